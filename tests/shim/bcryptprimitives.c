/*
 * bcryptprimitives.dll for Wine 8.0, which does not ship one.
 *
 * Rust's std (1.78 and later) links `ProcessPrng` from bcryptprimitives.dll on Windows;
 * without this DLL every Rust program (wskctl.exe included) fails to start under Wine 8.0.
 * Windows documents ProcessPrng as "fills the buffer with random bytes, always returns TRUE";
 * this implementation forwards to BCryptGenRandom with the system-preferred RNG, which Wine
 * implements. Built by `cargo xtask build` with mingw-w64 and installed into the Wine prefix's
 * system32 directory; never shipped for Windows.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* BCryptGenRandom takes a ULONG length: feed large requests in pieces. */
    const SIZE_T chunk_max = 0x40000000;
    while (len > 0) {
        ULONG chunk = (ULONG)(len > chunk_max ? chunk_max : len);
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
            /* The contract has no failure path; a broken RNG must not pass silently. */
            RaiseFailFastException(NULL, NULL, 0);
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
