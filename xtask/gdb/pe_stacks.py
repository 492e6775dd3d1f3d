# The Windows-side stacks of every thread of a Wine process, for a driver host that stopped
# answering (docs/reliability.md, finding 7). Run by `cargo xtask fuzz` after a hang:
#
#   gdb -batch -nx -p PID -x xtask/gdb/pe_stacks.py
#
# gdb alone stops at Wine's system call dispatcher: the thread's Windows registers are in the
# dispatcher's frame (its address at TEB+0x328, Wine 8.0 x86_64; offsets read in Debian's
# ntdll.so `__wine_syscall_dispatcher`). The script loads the symbols of every PE module the
# process maps, puts those registers in, runs `bt`, and puts the real ones back before it
# detaches. Frames in a module without DWARF (the driver, built by MSVC's linker) stop the
# unwinding, so it also prints the words of the stack that point into the modules named in
# $WSKRS_SCAN_MODULES (comma separated), for the caller to symbolize.
#
# Output lines: `thread LWP WINTID NAME`, `frame TEXT`, `scan MODULE+OFFSET`, `lock NAME OWNER`.

import os
import re
import struct

import gdb

# Offsets in Wine 8.0's x86_64 `struct syscall_frame` and TEB.
TEB_THREAD_ID = 0x48
TEB_SYSCALL_FRAME = 0x328
FRAME_RIP = 0x70
FRAME_REGS = {"rsp": 0x88, "rbp": 0x98, "rbx": 0x08, "rsi": 0x20, "rdi": 0x28,
              "r12": 0x50, "r13": 0x58, "r14": 0x60, "r15": 0x68}
# The dispatcher stores the return address minus the length of the call sequence.
RIP_ADJUST = 0xB
SCAN_WORDS = 2048
# Critical sections whose owner says who holds the loader or ntoskrnl's IRP machinery.
LOCKS = ["loader_section", "irp_completion_cs", "dpc_call_cs", "drivers_cs",
         "handle_map_cs", "obref_cs", "sync_cs"]

inferior = gdb.selected_inferior()


def u64(address):
    return struct.unpack("<Q", inferior.read_memory(address, 8).tobytes())[0]


def stack_words(sp):
    """Up to SCAN_WORDS words from `sp` on, in chunks, stopping at the end of the mapping."""
    words = []
    for chunk in range(0, SCAN_WORDS, 256):
        try:
            data = inferior.read_memory(sp + chunk * 8, 256 * 8).tobytes()
        except gdb.MemoryError:
            break
        words.extend(struct.unpack("<256Q", data))
    return words


def pe_modules(pid):
    """(path, load address, preferred base, image size) of each PE image the process maps."""
    seen = {}
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) < 6 or fields[2] != "00000000":
                continue
            path = fields[5]
            if path in seen or not re.search(r"\.(dll|sys|exe)$", path, re.I):
                continue
            try:
                with open(path, "rb") as image:
                    head = image.read(4096)
            except OSError:
                continue
            pe = struct.unpack_from("<I", head, 0x3C)[0]
            if head[pe:pe + 4] != b"PE\0\0" or struct.unpack_from("<H", head, pe + 24)[0] != 0x20B:
                continue
            base = struct.unpack_from("<Q", head, pe + 48)[0]
            size = struct.unpack_from("<I", head, pe + 80)[0]
            seen[path] = (path, int(fields[0].split("-")[0], 16), base, size)
    return list(seen.values())


def main():
    pid = inferior.pid
    modules = pe_modules(pid)
    for path, loaded, base, _ in modules:
        try:
            gdb.execute(f"add-symbol-file {path} -o {loaded - base:#x}", to_string=True)
        except gdb.error:
            pass
    wanted = [m for m in os.environ.get("WSKRS_SCAN_MODULES", "").lower().split(",") if m]
    scanned = [(os.path.basename(p), lo, lo + size) for p, lo, _, size in modules
               if os.path.basename(p).lower() in wanted]
    for name in LOCKS:
        try:
            address = int(gdb.parse_and_eval(f"(long)&'{name}'"))
            owner = u64(address + 16)
            print(f"lock {name} {owner:#x}")
        except (gdb.error, gdb.MemoryError):
            pass
    registers = ["rip"] + list(FRAME_REGS)
    for thread in inferior.threads():
        thread.switch()
        teb = int(gdb.parse_and_eval("$gs_base"))
        if teb == 0:
            continue
        print(f"thread {thread.ptid[1]} {u64(teb + TEB_THREAD_ID):#x} {thread.name}")
        frame = u64(teb + TEB_SYSCALL_FRAME)
        if frame == 0:
            continue
        saved = {r: int(gdb.parse_and_eval(f"${r}")) for r in registers}
        try:
            gdb.execute(f"set $rip = {u64(frame + FRAME_RIP) + RIP_ADJUST:#x}")
            for register, offset in FRAME_REGS.items():
                gdb.execute(f"set ${register} = {u64(frame + offset):#x}")
            for line in gdb.execute("bt 40", to_string=True).splitlines():
                if line.startswith("#"):
                    print("frame " + line)
            sp = u64(frame + FRAME_REGS["rsp"])
            for word in stack_words(sp):
                for name, lo, hi in scanned:
                    if lo <= word < hi:
                        print(f"scan {name}+{word - lo:#x}")
        except (gdb.error, gdb.MemoryError) as error:
            print(f"frame (unwinding failed: {error})")
        finally:
            for register in registers:
                gdb.execute(f"set ${register} = {saved[register]:#x}")
    gdb.execute("detach")


main()
