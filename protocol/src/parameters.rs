//! The driver's load-time parameters: `REG_DWORD` values under its service key's `Parameters`
//! subkey, read once when the driver loads. The driver applies them (each clamped to its
//! range, absent ones at their default) and reports what it applied in STATS; `wskctl driver
//! parameters` reads and writes them. One table, shared by both sides.

/// One parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverParameter {
    /// The value's name under the `Parameters` key.
    pub name: &'static str,
    /// Used when the value is absent or not a `REG_DWORD`.
    pub default: u32,
    /// The smallest value taken; smaller ones are raised to it.
    pub min: u32,
    /// The largest value taken; larger ones are lowered to it.
    pub max: u32,
    /// What it limits.
    pub meaning: &'static str,
}

impl DriverParameter {
    /// The value the driver applies for `set` (the registry's value, if any).
    #[must_use]
    pub fn applied(&self, set: Option<u32>) -> u32 {
        set.unwrap_or(self.default).clamp(self.min, self.max)
    }
}

/// The subkey of the service key that holds the parameters.
pub const PARAMETERS_SUBKEY: &str = "Parameters";

/// `MaxEndpoints`.
pub const PARAM_MAX_ENDPOINTS: DriverParameter = DriverParameter {
    name: "MaxEndpoints",
    default: 4_096,
    min: 16,
    max: 65_536,
    meaning: "endpoints open at once, all handles together",
};
/// `MaxConnectionsPerListener`: at least TCP_LISTEN's default, so that a request naming no
/// number always fits.
pub const PARAM_MAX_CONNECTIONS_PER_LISTENER: DriverParameter = DriverParameter {
    name: "MaxConnectionsPerListener",
    default: 16_384,
    min: crate::DEFAULT_MAX_CONNECTIONS,
    max: crate::MAX_CONNECTIONS,
    meaning: "connections one in-kernel listener serves or queues at once",
};
/// `EndpointsPerHandle`.
pub const PARAM_ENDPOINTS_PER_HANDLE: DriverParameter = DriverParameter {
    name: "EndpointsPerHandle",
    default: 64,
    min: 1,
    max: 65_536,
    meaning: "endpoints one handle owns at once",
};
/// `PendedRequestsPerHandle`.
pub const PARAM_PENDED_REQUESTS_PER_HANDLE: DriverParameter = DriverParameter {
    name: "PendedRequestsPerHandle",
    default: 32,
    min: 1,
    max: 65_536,
    meaning: "direct-I/O requests one handle has pended at once",
};
/// `LockedBytesPerHandle`.
pub const PARAM_LOCKED_BYTES_PER_HANDLE: DriverParameter = DriverParameter {
    name: "LockedBytesPerHandle",
    default: 16 << 20,
    min: 64 << 10,
    max: 1 << 30,
    meaning: "bytes of user memory one handle's pended requests lock at once",
};

/// Every parameter the driver reads.
pub const DRIVER_PARAMETERS: [DriverParameter; 5] = [
    PARAM_MAX_ENDPOINTS,
    PARAM_MAX_CONNECTIONS_PER_LISTENER,
    PARAM_ENDPOINTS_PER_HANDLE,
    PARAM_PENDED_REQUESTS_PER_HANDLE,
    PARAM_LOCKED_BYTES_PER_HANDLE,
];

/// The parameter called `name` (compared without case, as the registry compares names).
#[must_use]
pub fn driver_parameter(name: &str) -> Option<&'static DriverParameter> {
    DRIVER_PARAMETERS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lie_in_their_ranges_and_values_are_clamped() {
        for p in &DRIVER_PARAMETERS {
            assert!((p.min..=p.max).contains(&p.default), "{}", p.name);
            assert_eq!(p.applied(None), p.default);
            assert_eq!(p.applied(Some(0)), p.min);
            assert_eq!(p.applied(Some(u32::MAX)), p.max);
        }
        assert_eq!(driver_parameter("maxendpoints"), Some(&PARAM_MAX_ENDPOINTS));
        assert_eq!(driver_parameter("Nope"), None);
    }
}
