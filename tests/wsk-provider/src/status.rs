//! Winsock errors of synchronous calls as the NTSTATUS values WSK reports.
//!
//! Overlapped requests need no table: their `OVERLAPPED.Internal` already holds the NTSTATUS
//! that Wine's socket layer (like Windows' AFD) completed them with.

use wsk_bindings::NtStatus;

/// The NTSTATUS for a Winsock error code (`WSAGetLastError`), the inverse of the table
/// Windows' Winsock applies to AFD statuses.
pub(crate) fn from_wsa(error: i32) -> NtStatus {
    use windows_sys::Win32::Networking::WinSock as ws;
    match error {
        0 => NtStatus::SUCCESS,
        ws::WSAEACCES => NtStatus::ACCESS_DENIED,
        ws::WSAEFAULT | ws::WSAEINVAL | ws::WSAEDESTADDRREQ | ws::WSAENOPROTOOPT => {
            NtStatus::INVALID_PARAMETER
        }
        ws::WSAEMFILE => NtStatus::TOO_MANY_OPENED_FILES,
        ws::WSAEWOULDBLOCK => NtStatus::DEVICE_NOT_READY,
        ws::WSAENOTSOCK | ws::WSAEBADF => NtStatus::INVALID_HANDLE,
        ws::WSAEMSGSIZE => NtStatus::BUFFER_OVERFLOW,
        ws::WSAEPROTONOSUPPORT
        | ws::WSAESOCKTNOSUPPORT
        | ws::WSAEPFNOSUPPORT
        | ws::WSAEAFNOSUPPORT
        | ws::WSAEPROTOTYPE
        | ws::WSAEOPNOTSUPP => NtStatus::NOT_SUPPORTED,
        // Windows' WskBind reports a port in use as STATUS_ADDRESS_ALREADY_ASSOCIATED (Wine's
        // WSK test driver, which records Windows' behaviour, retries on exactly that status).
        ws::WSAEADDRINUSE => NtStatus::ADDRESS_ALREADY_ASSOCIATED,
        ws::WSAEADDRNOTAVAIL => NtStatus::INVALID_ADDRESS,
        ws::WSAENETDOWN => NtStatus::NETWORK_BUSY,
        ws::WSAENETUNREACH => NtStatus::NETWORK_UNREACHABLE,
        ws::WSAEHOSTUNREACH => NtStatus::HOST_UNREACHABLE,
        ws::WSAECONNABORTED => NtStatus::CONNECTION_ABORTED,
        ws::WSAECONNRESET => NtStatus::CONNECTION_RESET,
        ws::WSAENOBUFS => NtStatus::INSUFFICIENT_RESOURCES,
        ws::WSAEISCONN => NtStatus::CONNECTION_ACTIVE,
        ws::WSAENOTCONN => NtStatus::INVALID_CONNECTION,
        ws::WSAESHUTDOWN => NtStatus::PIPE_DISCONNECTED,
        ws::WSAETIMEDOUT | ws::WSATRY_AGAIN => NtStatus::IO_TIMEOUT,
        ws::WSAECONNREFUSED => NtStatus::CONNECTION_REFUSED,
        ws::WSAEHOSTDOWN => NtStatus::HOST_DOWN,
        ws::WSA_OPERATION_ABORTED => NtStatus::CANCELLED,
        ws::WSAHOST_NOT_FOUND | ws::WSANO_DATA | ws::WSANO_RECOVERY => NtStatus::NOT_FOUND,
        ws::WSA_NOT_ENOUGH_MEMORY => NtStatus::NO_MEMORY,
        _ => NtStatus::UNSUCCESSFUL,
    }
}

/// The NTSTATUS for the calling thread's last Winsock error.
pub(crate) fn last_wsa() -> NtStatus {
    // SAFETY: no preconditions.
    from_wsa(unsafe { windows_sys::Win32::Networking::WinSock::WSAGetLastError() })
}
