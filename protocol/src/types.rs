//! Typed forms of the protocol's identifiers and enumerations.

use core::fmt;
use core::str::FromStr;

use crate::{
    ProtocolError, KIND_TCP_CONNECTION, KIND_TCP_LISTENER, SERVICE_ECHO, SERVICE_NONE,
    STATE_BROKEN, STATE_CONNECTED, STATE_LISTENING, STATE_PEER_CLOSED,
};

/// An endpoint's id, assigned by the driver from a counter starting at 1 and never reused
/// while the driver is loaded. 0 is never a valid id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u64);

impl EndpointId {
    /// The id, or `None` for the never-valid 0.
    #[must_use]
    pub const fn new(value: u64) -> Option<Self> {
        if value == 0 {
            None
        } else {
            Some(Self(value))
        }
    }

    /// The id, or [`ProtocolError::InvalidParameter`] for 0.
    pub(crate) const fn checked(value: u64) -> Result<Self, ProtocolError> {
        match Self::new(value) {
            Some(id) => Ok(id),
            None => Err(ProtocolError::InvalidParameter),
        }
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for EndpointId {
    type Err = ProtocolError;

    /// Parses a decimal id; 0 and non-numbers are [`ProtocolError::InvalidParameter`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value = text
            .parse::<u64>()
            .map_err(|_| ProtocolError::InvalidParameter)?;
        Self::checked(value)
    }
}

/// Declares a small enum with its wire value and display name.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:path, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The value on the wire.
            #[must_use]
            pub const fn as_u32(self) -> u32 {
                match self {
                    $(Self::$variant => $value,)*
                }
            }

            /// The variant for a wire value, or `None` for an unknown one.
            #[must_use]
            pub const fn from_u32(value: u32) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The lowercase name used by `wskctl` (tables, JSON and arguments).
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// The variant whose [`name`](Self::name) is `text`.
            #[must_use]
            pub fn from_name(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

wire_enum! {
    /// What an endpoint is.
    EndpointKind {
        /// A connected TCP socket.
        TcpConnection = KIND_TCP_CONNECTION, "tcp";
        /// A listening TCP socket with its in-kernel service.
        TcpListener = KIND_TCP_LISTENER, "tcp-listener";
    }
}

wire_enum! {
    /// Where an endpoint is in its life.
    EndpointState {
        /// A connection that can send and receive.
        Connected = STATE_CONNECTED, "connected";
        /// A listener accepting connections.
        Listening = STATE_LISTENING, "listening";
        /// A connection whose peer closed its side (receives return EOF).
        PeerClosed = STATE_PEER_CLOSED, "peer-closed";
        /// An endpoint whose socket failed; only closing it is useful.
        Broken = STATE_BROKEN, "broken";
    }
}

wire_enum! {
    /// The in-kernel service a listener runs on each accepted connection.
    Service {
        /// No service (connections are accepted and closed).
        None = SERVICE_NONE, "none";
        /// Echo: everything received is sent back.
        Echo = SERVICE_ECHO, "echo";
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{EndpointId, EndpointKind, EndpointState, Service};
    use crate::ProtocolError;
    use std::string::ToString;

    #[test]
    fn endpoint_id_rejects_zero() {
        assert_eq!(EndpointId::new(0), None);
        assert_eq!(EndpointId::new(3), Some(EndpointId(3)));
        assert_eq!(
            "0".parse::<EndpointId>(),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!(
            "-1".parse::<EndpointId>(),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!(
            "x".parse::<EndpointId>(),
            Err(ProtocolError::InvalidParameter)
        );
        assert_eq!("42".parse::<EndpointId>(), Ok(EndpointId(42)));
        assert_eq!(
            EndpointId(18_446_744_073_709_551_615).to_string(),
            "18446744073709551615"
        );
    }

    #[test]
    fn enums_round_trip() {
        for kind in [EndpointKind::TcpConnection, EndpointKind::TcpListener] {
            assert_eq!(EndpointKind::from_u32(kind.as_u32()), Some(kind));
            assert_eq!(EndpointKind::from_name(kind.name()), Some(kind));
        }
        for state in [
            EndpointState::Connected,
            EndpointState::Listening,
            EndpointState::PeerClosed,
            EndpointState::Broken,
        ] {
            assert_eq!(EndpointState::from_u32(state.as_u32()), Some(state));
            assert_eq!(EndpointState::from_name(&state.to_string()), Some(state));
        }
        assert_eq!(Service::from_u32(1), Some(Service::Echo));
        assert_eq!(Service::from_u32(0), Some(Service::None));
        assert_eq!(Service::from_u32(2), None);
        assert_eq!(EndpointKind::from_u32(0), None);
        assert_eq!(EndpointState::from_u32(5), None);
        assert_eq!(Service::from_name("echo"), Some(Service::Echo));
        assert_eq!(Service::from_name("ECHO"), None);
    }
}
