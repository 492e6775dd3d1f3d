//! The WSK dispatch routines whose handling both providers share the shape of, with their
//! parameter lists written once: each generic routine here turns its raw parameters into a
//! call struct (`SIZE_T` lengths as `usize`) and hands it to the provider's [`Provider`]
//! method. A provider puts `control_socket::<Itself>` (and the others) in its dispatch
//! tables.
//!
//! The parameters are those of the WSK DDIs of the same names
//! (<https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/>); their contracts pass
//! through unchanged, which is why the call structs hold raw pointers.

use std::ffi::c_void;

use wsk_bindings as sys;

/// A `SIZE_T` length as `usize` (the same width on every target the providers build for;
/// 0, claiming no bytes, if it ever were not).
fn length(size: sys::SIZE_T) -> usize {
    usize::try_from(size).unwrap_or(0)
}

/// `WskControlSocket`'s parameters.
#[derive(Clone, Copy, Debug)]
pub struct ControlSocket {
    /// The socket.
    pub socket: *mut sys::WSK_SOCKET,
    /// `WskSetOption`, `WskGetOption` or `WskIoctl`.
    pub request: sys::WSK_CONTROL_SOCKET_TYPE,
    /// The option or I/O control code.
    pub code: u32,
    /// The option's level.
    pub level: u32,
    /// Readable for `input_size` bytes, or NULL.
    pub input: *mut c_void,
    /// Bytes of `input`.
    pub input_size: usize,
    /// Writable for `output_size` bytes, or NULL.
    pub output: *mut c_void,
    /// Bytes of `output`.
    pub output_size: usize,
    /// Receives the bytes returned, or NULL.
    pub returned: *mut sys::SIZE_T,
    /// The client's IRP, or NULL.
    pub irp: *mut sys::IRP,
}

impl ControlSocket {
    /// Whether this is `SO_WSK_EVENT_CALLBACK` (enabling or disabling event callbacks, not an
    /// option value: always synchronous and without an IRP).
    #[must_use]
    pub fn is_event_callback(&self) -> bool {
        self.request == sys::WskSetOption
            && self.level == sys::SOL_SOCKET
            && self.code == sys::SO_WSK_EVENT_CALLBACK
    }
}

/// `WskControlClient`'s parameters.
#[derive(Clone, Copy, Debug)]
pub struct ControlClient {
    /// The client object from the captured provider NPI.
    pub client: *mut sys::WSK_CLIENT,
    /// `WSK_CACHE_SD`, `WSK_RELEASE_SD`, `WSK_SET_STATIC_EVENT_CALLBACKS`, ...
    pub code: u32,
    /// Bytes of `input`.
    pub input_size: usize,
    /// Readable for `input_size` bytes, or NULL.
    pub input: *mut c_void,
    /// Bytes of `output`.
    pub output_size: usize,
    /// Writable for `output_size` bytes, or NULL.
    pub output: *mut c_void,
    /// Receives the bytes returned, or NULL.
    pub returned: *mut sys::SIZE_T,
    /// The client's IRP, or NULL (the documented codes take none).
    pub irp: *mut sys::IRP,
}

/// `WskGetAddressInfo`'s parameters.
#[derive(Clone, Copy, Debug)]
pub struct GetAddressInfo {
    /// The client object from the captured provider NPI.
    pub client: *mut sys::WSK_CLIENT,
    /// The host name or address text, or NULL.
    pub node: *mut sys::UNICODE_STRING,
    /// The service name or port text, or NULL.
    pub service: *mut sys::UNICODE_STRING,
    /// `NS_*` name space.
    pub name_space: u32,
    /// The name space provider, or NULL.
    pub provider: *mut sys::GUID,
    /// The hints, or NULL.
    pub hints: *mut sys::ADDRINFOEXW,
    /// Receives the result list (freed with `WskFreeAddressInfo`).
    pub result: *mut *mut sys::ADDRINFOEXW,
    /// The IRP, which the call completes.
    pub irp: *mut sys::IRP,
}

/// `WskGetNameInfo`'s parameters.
#[derive(Clone, Copy, Debug)]
pub struct GetNameInfo {
    /// The client object from the captured provider NPI.
    pub client: *mut sys::WSK_CLIENT,
    /// The socket address to name.
    pub address: *mut sys::SOCKADDR,
    /// Bytes of `address`.
    pub length: u32,
    /// Receives the host name, or NULL.
    pub node: *mut sys::UNICODE_STRING,
    /// Receives the service name, or NULL.
    pub service: *mut sys::UNICODE_STRING,
    /// `NI_*` flags.
    pub flags: u32,
    /// The IRP, which the call completes.
    pub irp: *mut sys::IRP,
}

/// `WskSocketConnect`'s parameters.
#[derive(Clone, Copy, Debug)]
pub struct SocketConnect {
    /// The client object from the captured provider NPI.
    pub client: *mut sys::WSK_CLIENT,
    /// `SOCK_STREAM`.
    pub socket_type: u16,
    /// The transport protocol.
    pub protocol: u32,
    /// The local address to bind.
    pub local: *mut sys::SOCKADDR,
    /// The remote address to connect to.
    pub remote: *mut sys::SOCKADDR,
    /// Reserved (0).
    pub flags: u32,
    /// The client's socket context.
    pub context: *mut c_void,
    /// The client's connection event callbacks, or NULL.
    pub dispatch: *const sys::WSK_CLIENT_CONNECTION_DISPATCH,
    /// The security descriptor (cached), or NULL.
    pub security: *mut sys::SECURITY_DESCRIPTOR,
    /// The IRP, which the call completes.
    pub irp: *mut sys::IRP,
}

/// `WskReceiveFrom`'s parameters.
#[derive(Clone, Copy, Debug)]
pub struct ReceiveFrom {
    /// The datagram socket.
    pub socket: *mut sys::WSK_SOCKET,
    /// The buffer for the datagram.
    pub buffer: *mut sys::WSK_BUF,
    /// Reserved (0).
    pub flags: u32,
    /// Receives the sender's address, or NULL.
    pub remote: *mut sys::SOCKADDR,
    /// In: room for control information; out: its length. Or NULL.
    pub control_length: *mut u32,
    /// Receives the control information, or NULL.
    pub control: *mut sys::CMSGHDR,
    /// Receives the `MSG_*` flags, or NULL.
    pub control_flags: *mut u32,
    /// The IRP, which the call completes.
    pub irp: *mut sys::IRP,
}

/// A provider's handling of the routines of this module.
pub trait Provider {
    /// `WskControlSocket`.
    ///
    /// # Safety
    /// The WSK contract of `WskControlSocket` for `call`'s parameters.
    unsafe fn control_socket(call: ControlSocket) -> sys::NTSTATUS;
    /// `WskControlClient`.
    ///
    /// # Safety
    /// The WSK contract of `WskControlClient` for `call`'s parameters.
    unsafe fn control_client(call: ControlClient) -> sys::NTSTATUS;
    /// `WskGetAddressInfo`.
    ///
    /// # Safety
    /// The WSK contract of `WskGetAddressInfo` for `call`'s parameters.
    unsafe fn get_address_info(call: GetAddressInfo) -> sys::NTSTATUS;
    /// `WskGetNameInfo`.
    ///
    /// # Safety
    /// The WSK contract of `WskGetNameInfo` for `call`'s parameters.
    unsafe fn get_name_info(call: GetNameInfo) -> sys::NTSTATUS;
    /// `WskSocketConnect`.
    ///
    /// # Safety
    /// The WSK contract of `WskSocketConnect` for `call`'s parameters.
    unsafe fn socket_connect(call: SocketConnect) -> sys::NTSTATUS;
    /// `WskReceiveFrom`.
    ///
    /// # Safety
    /// The WSK contract of `WskReceiveFrom` for `call`'s parameters.
    unsafe fn receive_from(call: ReceiveFrom) -> sys::NTSTATUS;
}

/// `WskControlSocket` of provider `P`.
///
/// # Safety
/// The WSK contract of `WskControlSocket`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn control_socket<P: Provider>(
    socket: *mut sys::WSK_SOCKET,
    request: sys::WSK_CONTROL_SOCKET_TYPE,
    code: u32,
    level: u32,
    input_size: sys::SIZE_T,
    input: *mut c_void,
    output_size: sys::SIZE_T,
    output: *mut c_void,
    returned: *mut sys::SIZE_T,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let call = ControlSocket {
        socket,
        request,
        code,
        level,
        input,
        input_size: length(input_size),
        output,
        output_size: length(output_size),
        returned,
        irp,
    };
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { P::control_socket(call) }
}

/// `WskControlClient` of provider `P`.
///
/// # Safety
/// The WSK contract of `WskControlClient`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn control_client<P: Provider>(
    client: *mut sys::WSK_CLIENT,
    code: u32,
    input_size: sys::SIZE_T,
    input: *mut c_void,
    output_size: sys::SIZE_T,
    output: *mut c_void,
    returned: *mut sys::SIZE_T,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let call = ControlClient {
        client,
        code,
        input_size: length(input_size),
        input,
        output_size: length(output_size),
        output,
        returned,
        irp,
    };
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { P::control_client(call) }
}

/// `WskGetAddressInfo` of provider `P` (the owning process and thread are not used).
///
/// # Safety
/// The WSK contract of `WskGetAddressInfo`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn get_address_info<P: Provider>(
    client: *mut sys::WSK_CLIENT,
    node: *mut sys::UNICODE_STRING,
    service: *mut sys::UNICODE_STRING,
    name_space: u32,
    provider: *mut sys::GUID,
    hints: *mut sys::ADDRINFOEXW,
    result: *mut *mut sys::ADDRINFOEXW,
    _process: sys::PEPROCESS,
    _thread: sys::PETHREAD,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let call = GetAddressInfo {
        client,
        node,
        service,
        name_space,
        provider,
        hints,
        result,
        irp,
    };
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { P::get_address_info(call) }
}

/// `WskGetNameInfo` of provider `P` (the owning process and thread are not used).
///
/// # Safety
/// The WSK contract of `WskGetNameInfo`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn get_name_info<P: Provider>(
    client: *mut sys::WSK_CLIENT,
    address: *mut sys::SOCKADDR,
    length: u32,
    node: *mut sys::UNICODE_STRING,
    service: *mut sys::UNICODE_STRING,
    flags: u32,
    _process: sys::PEPROCESS,
    _thread: sys::PETHREAD,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let call = GetNameInfo {
        client,
        address,
        length,
        node,
        service,
        flags,
        irp,
    };
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { P::get_name_info(call) }
}

/// `WskSocketConnect` of provider `P` (the owning process and thread are not used).
///
/// # Safety
/// The WSK contract of `WskSocketConnect`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn socket_connect<P: Provider>(
    client: *mut sys::WSK_CLIENT,
    socket_type: u16,
    protocol: u32,
    local: *mut sys::SOCKADDR,
    remote: *mut sys::SOCKADDR,
    flags: u32,
    context: *mut c_void,
    dispatch: *const sys::WSK_CLIENT_CONNECTION_DISPATCH,
    _process: sys::PEPROCESS,
    _thread: sys::PETHREAD,
    security: *mut sys::SECURITY_DESCRIPTOR,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let call = SocketConnect {
        client,
        socket_type,
        protocol,
        local,
        remote,
        flags,
        context,
        dispatch,
        security,
        irp,
    };
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { P::socket_connect(call) }
}

/// `WskReceiveFrom` of provider `P`.
///
/// # Safety
/// The WSK contract of `WskReceiveFrom`.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn receive_from<P: Provider>(
    socket: *mut sys::WSK_SOCKET,
    buffer: *mut sys::WSK_BUF,
    flags: u32,
    remote: *mut sys::SOCKADDR,
    control_length: *mut u32,
    control: *mut sys::CMSGHDR,
    control_flags: *mut u32,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    let call = ReceiveFrom {
        socket,
        buffer,
        flags,
        remote,
        control_length,
        control,
        control_flags,
        irp,
    };
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe { P::receive_from(call) }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    /// The last control call the test provider saw.
    static SEEN: Mutex<Option<(u32, u32, usize, usize)>> = Mutex::new(None);

    struct Recorder;

    impl Provider for Recorder {
        unsafe fn control_socket(call: ControlSocket) -> sys::NTSTATUS {
            *SEEN.lock().unwrap() =
                Some((call.code, call.level, call.input_size, call.output_size));
            i32::from(call.is_event_callback())
        }
        unsafe fn control_client(call: ControlClient) -> sys::NTSTATUS {
            *SEEN.lock().unwrap() = Some((call.code, 0, call.input_size, call.output_size));
            2
        }
        unsafe fn get_address_info(_: GetAddressInfo) -> sys::NTSTATUS {
            3
        }
        unsafe fn get_name_info(call: GetNameInfo) -> sys::NTSTATUS {
            i32::try_from(call.length).unwrap()
        }
        unsafe fn socket_connect(call: SocketConnect) -> sys::NTSTATUS {
            i32::from(call.socket_type)
        }
        unsafe fn receive_from(call: ReceiveFrom) -> sys::NTSTATUS {
            i32::try_from(call.flags).unwrap()
        }
    }

    /// The routine of a dispatch table entry (`PFN_*`, an `Option` of the routine's type).
    fn installed<F>(entry: Option<F>) -> F {
        entry.expect("the entry holds a routine")
    }

    #[test]
    fn the_routines_in_a_dispatch_table_reach_the_provider_with_their_parameters() {
        use std::ptr::null_mut;
        let entry: sys::PFN_WSK_CONTROL_SOCKET = Some(control_socket::<Recorder>);
        let routine = installed(entry);
        // SAFETY: the test provider touches none of the pointers.
        let status = unsafe {
            routine(
                null_mut(),
                sys::WskSetOption,
                sys::SO_WSK_EVENT_CALLBACK,
                sys::SOL_SOCKET,
                12,
                null_mut(),
                34,
                null_mut(),
                null_mut(),
                null_mut(),
            )
        };
        assert_eq!(status, 1, "recognised as SO_WSK_EVENT_CALLBACK");
        assert_eq!(
            *SEEN.lock().unwrap(),
            Some((sys::SO_WSK_EVENT_CALLBACK, sys::SOL_SOCKET, 12, 34))
        );
        let entry: sys::PFN_WSK_CONTROL_CLIENT = Some(control_client::<Recorder>);
        let client = installed(entry);
        // SAFETY: as above.
        let status = unsafe {
            client(
                null_mut(),
                sys::WSK_CACHE_SD,
                8,
                null_mut(),
                16,
                null_mut(),
                null_mut(),
                null_mut(),
            )
        };
        assert_eq!(status, 2);
        assert_eq!(*SEEN.lock().unwrap(), Some((sys::WSK_CACHE_SD, 0, 8, 16)));
        let entry: sys::PFN_WSK_GET_NAME_INFO = Some(get_name_info::<Recorder>);
        let name = installed(entry);
        // SAFETY: as above.
        let status = unsafe {
            name(
                null_mut(),
                null_mut(),
                28,
                null_mut(),
                null_mut(),
                0,
                null_mut(),
                null_mut(),
                null_mut(),
            )
        };
        assert_eq!(status, 28);
    }
}
