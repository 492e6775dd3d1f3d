//! The WSK dispatch routines both providers implement, with their parameter lists written
//! once: [`routines!`] makes, from one list per routine, a call struct holding the raw
//! parameters and a generic `extern "C"` routine that packs them and calls the provider's
//! [`Provider`] method. A provider puts `control_socket::<Itself>` (and the others) in its
//! dispatch tables.
//!
//! The parameters are those of the WSK DDIs of the same names
//! (<https://learn.microsoft.com/windows-hardware/drivers/ddi/wsk/>); their contracts pass
//! through unchanged, which is why the call structs hold raw pointers.

use std::ffi::c_void;

use wsk_bindings as sys;

/// A `SIZE_T` length as `usize` (the same width on every target the providers build for;
/// 0, claiming no bytes, if it ever were not).
#[must_use]
pub fn length(size: sys::SIZE_T) -> usize {
    usize::try_from(size).unwrap_or(0)
}

/// How a provider handles one routine: its call struct in, the routine's status out.
///
/// # Safety
/// A handler is called with the WSK contract of its routine for the call's parameters.
pub type Handler<C> = unsafe fn(C) -> sys::NTSTATUS;

/// Defines, for each routine, its call struct (one public field per parameter, in order), the
/// provider's handler constant `$handler` of [`Provider`], and the generic routine
/// `$routine::<P>` that packs the parameters and calls `P::$handler`.
macro_rules! routines {
    ($(
        $(#[$doc:meta])*
        $ddi:literal: $routine:ident => $handler:ident($call:ident {
            $($(#[$field_doc:meta])* $field:ident: $ty:ty,)*
        });
    )*) => {
        $(
            #[doc = concat!("`", $ddi, "`'s parameters, in order.")]
            $(#[$doc])*
            #[derive(Clone, Copy, Debug)]
            pub struct $call {
                $(
                    #[doc = concat!("The `", stringify!($field), "` parameter.")]
                    $(#[$field_doc])*
                    pub $field: $ty,
                )*
            }

            #[doc = concat!("`", $ddi, "` of provider `P`: calls [`Provider::", stringify!($handler), "`].")]
            ///
            /// # Safety
            #[doc = concat!("The WSK contract of `", $ddi, "`.")]
            #[allow(clippy::too_many_arguments)]
            pub unsafe extern "C" fn $routine<P: Provider>($($field: $ty),*) -> sys::NTSTATUS {
                // SAFETY: the caller's contract, passed on unchanged.
                unsafe { (P::$handler)($call { $($field),* }) }
            }
        )*

        /// A provider's handlers of the routines of this module, one function each (called
        /// with the WSK contract of the routine).
        pub trait Provider {
            $(
                #[doc = concat!("Handles `", $ddi, "`.")]
                const $handler: Handler<$call>;
            )*
        }
    };
}

routines! {
    "WskSocket": socket => SOCKET(Socket {
        /// The client object from the captured provider NPI.
        client: *mut sys::WSK_CLIENT,
        family: sys::ADDRESS_FAMILY,
        socket_type: u16,
        protocol: u32,
        /// `WSK_FLAG_*_SOCKET`: the category.
        flags: u32,
        /// The client's socket context.
        context: *mut c_void,
        /// The client's event callbacks for the category, or NULL.
        dispatch: *const c_void,
        process: sys::PEPROCESS,
        thread: sys::PETHREAD,
        /// A cached security descriptor, or NULL.
        security: *mut sys::SECURITY_DESCRIPTOR,
        /// The IRP, which the call completes.
        irp: *mut sys::IRP,
    });
    "WskSocketConnect": socket_connect => SOCKET_CONNECT(SocketConnect {
        client: *mut sys::WSK_CLIENT,
        socket_type: u16,
        protocol: u32,
        /// The local address to bind.
        local: *mut sys::SOCKADDR,
        /// The remote address to connect to.
        remote: *mut sys::SOCKADDR,
        /// Reserved (0).
        flags: u32,
        context: *mut c_void,
        /// The client's connection event callbacks, or NULL.
        dispatch: *const sys::WSK_CLIENT_CONNECTION_DISPATCH,
        process: sys::PEPROCESS,
        thread: sys::PETHREAD,
        security: *mut sys::SECURITY_DESCRIPTOR,
        irp: *mut sys::IRP,
    });
    "WskControlClient": control_client => CONTROL_CLIENT(ControlClient {
        client: *mut sys::WSK_CLIENT,
        /// `WSK_CACHE_SD`, `WSK_RELEASE_SD`, `WSK_SET_STATIC_EVENT_CALLBACKS`, ...
        code: u32,
        input_size: sys::SIZE_T,
        /// Readable for `input_size` bytes, or NULL.
        input: *mut c_void,
        output_size: sys::SIZE_T,
        /// Writable for `output_size` bytes, or NULL.
        output: *mut c_void,
        /// Receives the bytes returned, or NULL.
        returned: *mut sys::SIZE_T,
        /// The client's IRP, or NULL (the documented codes take none).
        irp: *mut sys::IRP,
    });
    "WskGetAddressInfo": get_address_info => GET_ADDRESS_INFO(GetAddressInfo {
        client: *mut sys::WSK_CLIENT,
        /// The host name or address text, or NULL.
        node: *mut sys::UNICODE_STRING,
        /// The service name or port text, or NULL.
        service: *mut sys::UNICODE_STRING,
        name_space: u32,
        provider: *mut sys::GUID,
        hints: *mut sys::ADDRINFOEXW,
        /// Receives the result list (freed with `WskFreeAddressInfo`).
        result: *mut *mut sys::ADDRINFOEXW,
        process: sys::PEPROCESS,
        thread: sys::PETHREAD,
        irp: *mut sys::IRP,
    });
    "WskGetNameInfo": get_name_info => GET_NAME_INFO(GetNameInfo {
        client: *mut sys::WSK_CLIENT,
        /// The socket address to name.
        address: *mut sys::SOCKADDR,
        /// Bytes of `address`.
        length: u32,
        /// Receives the host name, or NULL.
        node: *mut sys::UNICODE_STRING,
        /// Receives the service name, or NULL.
        service: *mut sys::UNICODE_STRING,
        /// `NI_*` flags.
        flags: u32,
        process: sys::PEPROCESS,
        thread: sys::PETHREAD,
        irp: *mut sys::IRP,
    });
    "WskControlSocket": control_socket => CONTROL_SOCKET(ControlSocket {
        socket: *mut sys::WSK_SOCKET,
        /// `WskSetOption`, `WskGetOption` or `WskIoctl`.
        request: sys::WSK_CONTROL_SOCKET_TYPE,
        /// The option or I/O control code.
        code: u32,
        /// The option's level.
        level: u32,
        input_size: sys::SIZE_T,
        /// Readable for `input_size` bytes, or NULL.
        input: *mut c_void,
        output_size: sys::SIZE_T,
        /// Writable for `output_size` bytes, or NULL.
        output: *mut c_void,
        /// Receives the bytes returned, or NULL.
        returned: *mut sys::SIZE_T,
        /// The client's IRP, or NULL.
        irp: *mut sys::IRP,
    });
    "WskAccept": accept => ACCEPT(Accept {
        /// The listening socket.
        socket: *mut sys::WSK_SOCKET,
        /// Reserved (0).
        flags: u32,
        /// The accepted socket's client context.
        context: *mut c_void,
        /// The accepted socket's connection event callbacks, or NULL.
        dispatch: *const sys::WSK_CLIENT_CONNECTION_DISPATCH,
        /// Receives the local address, or NULL.
        local: *mut sys::SOCKADDR,
        /// Receives the remote address, or NULL.
        remote: *mut sys::SOCKADDR,
        irp: *mut sys::IRP,
    });
    "WskSendTo": send_to => SEND_TO(SendTo {
        /// The datagram socket.
        socket: *mut sys::WSK_SOCKET,
        /// The datagram.
        buffer: *mut sys::WSK_BUF,
        /// Reserved (0).
        flags: u32,
        /// The destination, or NULL for the fixed one.
        remote: *mut sys::SOCKADDR,
        /// Bytes of `control`.
        control_length: u32,
        /// Control information, or NULL.
        control: *mut sys::CMSGHDR,
        irp: *mut sys::IRP,
    });
    "WskReceiveFrom": receive_from => RECEIVE_FROM(ReceiveFrom {
        /// The datagram socket.
        socket: *mut sys::WSK_SOCKET,
        /// The buffer for the datagram.
        buffer: *mut sys::WSK_BUF,
        /// Reserved (0).
        flags: u32,
        /// Receives the sender's address, or NULL.
        remote: *mut sys::SOCKADDR,
        /// In: room for control information; out: its length. Or NULL.
        control_length: *mut u32,
        /// Receives the control information, or NULL.
        control: *mut sys::CMSGHDR,
        /// Receives the `MSG_*` flags, or NULL.
        control_flags: *mut u32,
        irp: *mut sys::IRP,
    });
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

    /// Bytes of `input`.
    #[must_use]
    pub fn input_len(&self) -> usize {
        length(self.input_size)
    }

    /// Bytes of `output`.
    #[must_use]
    pub fn output_len(&self) -> usize {
        length(self.output_size)
    }
}

impl ControlClient {
    /// Bytes of `input`.
    #[must_use]
    pub fn input_len(&self) -> usize {
        length(self.input_size)
    }

    /// Bytes of `output`.
    #[must_use]
    pub fn output_len(&self) -> usize {
        length(self.output_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    /// The last control call the test provider saw.
    static SEEN: Mutex<Option<(u32, u32, usize, usize)>> = Mutex::new(None);

    struct Recorder;

    unsafe fn control_socket_seen(call: ControlSocket) -> sys::NTSTATUS {
        *SEEN.lock().unwrap() = Some((call.code, call.level, call.input_len(), call.output_len()));
        i32::from(call.is_event_callback())
    }

    unsafe fn control_client_seen(call: ControlClient) -> sys::NTSTATUS {
        *SEEN.lock().unwrap() = Some((call.code, 0, call.input_len(), call.output_len()));
        2
    }

    unsafe fn length_of(call: GetNameInfo) -> sys::NTSTATUS {
        i32::try_from(call.length).unwrap()
    }

    unsafe fn unused<C>(_: C) -> sys::NTSTATUS {
        unreachable!("not called by the test")
    }

    impl Provider for Recorder {
        const SOCKET: Handler<Socket> = unused;
        const SOCKET_CONNECT: Handler<SocketConnect> = unused;
        const CONTROL_CLIENT: Handler<ControlClient> = control_client_seen;
        const GET_ADDRESS_INFO: Handler<GetAddressInfo> = unused;
        const GET_NAME_INFO: Handler<GetNameInfo> = length_of;
        const CONTROL_SOCKET: Handler<ControlSocket> = control_socket_seen;
        const ACCEPT: Handler<Accept> = unused;
        const SEND_TO: Handler<SendTo> = unused;
        const RECEIVE_FROM: Handler<ReceiveFrom> = unused;
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
