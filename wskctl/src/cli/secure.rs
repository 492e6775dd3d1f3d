//! Winsock's secure socket extensions on endpoints: `wskctl secure query`, `wskctl secure
//! set-peer-name` / `delete-peer-name`, and the `--secure` settings of `tcp connect`, `tcp
//! listen` and `udp bind` (with `--peer-target-name` on `tcp connect`).

use std::net::SocketAddr;

use clap::{Args, Subcommand, ValueEnum};
use wskrs_client::{ClientError, Device};
use wskrs_protocol::{EndpointId, SecureProtocol, SocketSecurity, PEER_TARGET_NAME_LEN};

use super::{parse_endpoint_id, Streams};
use crate::output::{self, Format};

/// The security protocols of `--secure` and `--protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProtocolArg {
    /// SOCKET_SECURITY_PROTOCOL_DEFAULT: what the administrator configured (IPsec).
    Default,
    /// SOCKET_SECURITY_PROTOCOL_IPSEC.
    Ipsec,
    /// SOCKET_SECURITY_PROTOCOL_IPSEC2 (Windows 7 and later).
    Ipsec2,
}

impl From<ProtocolArg> for SecureProtocol {
    fn from(protocol: ProtocolArg) -> Self {
        match protocol {
            ProtocolArg::Default => Self::Default,
            ProtocolArg::Ipsec => Self::Ipsec,
            ProtocolArg::Ipsec2 => Self::Ipsec2,
        }
    }
}

/// The secure socket settings of a new endpoint (`SIO_SET_SECURITY` after the bind options,
/// before bind: the only point of a socket's life where they apply).
#[derive(Clone, Copy, Debug, Args)]
pub(crate) struct SecureArgs {
    /// Apply Winsock's secure socket settings (SIO_SET_SECURITY) with this protocol before
    /// binding. Without --allow-insecure the traffic must be secured: a provider without
    /// IPsec (the project's provider under Wine) refuses with STATUS_NOT_SUPPORTED.
    #[arg(long, value_name = "PROTOCOL", value_enum)]
    pub(crate) secure: Option<ProtocolArg>,
    /// With --secure: allow clear text when security cannot be negotiated
    /// (SOCKET_SETTINGS_ALLOW_INSECURE).
    #[arg(long, requires = "secure")]
    pub(crate) allow_insecure: bool,
    /// With --secure: no packet leaves unencrypted (SOCKET_SETTINGS_GUARANTEE_ENCRYPTION).
    #[arg(long, requires = "secure")]
    pub(crate) guarantee_encryption: bool,
}

impl SecureArgs {
    /// The settings, if `--secure` was given.
    pub(crate) fn settings(self) -> Option<SocketSecurity> {
        self.secure.map(|protocol| SocketSecurity {
            protocol: protocol.into(),
            guarantee_encryption: self.guarantee_encryption,
            allow_insecure: self.allow_insecure,
        })
    }
}

/// A peer target name: 1 to 127 bytes without NUL.
pub(crate) fn parse_peer_target_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() >= PEER_TARGET_NAME_LEN || text.contains('\0') {
        return Err(format!(
            "a peer target name is 1 to {} bytes without NUL, e.g. host/server.example",
            PEER_TARGET_NAME_LEN - 1
        ));
    }
    Ok(text.to_owned())
}

/// `wskctl secure ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SecureCommand {
    /// Show the security of a connection, or of a UDP endpoint's traffic with --peer
    /// (SIO_QUERY_SECURITY): the protocol and whether the traffic is authenticated and
    /// encrypted.
    ///
    /// Applies to a TCP connection once connected (or accepted), and to a UDP endpoint for a
    /// peer it exchanged datagrams with. The peer's application and machine tokens are
    /// never asked for. Without IPsec (the project's provider under Wine) every connection
    /// reports protocol ipsec and neither flag.
    #[command(
        after_help = "Examples:\n  wskctl secure query 3\n  endpoint 3: protocol ipsec, not secured, not encrypted\n  wskctl --json secure query 5 --peer 127.0.0.1:9000"
    )]
    Query(QueryArgs),
    /// Name a UDP endpoint's peer for the security protocol (SIO_SET_PEER_TARGET_NAME),
    /// before the first datagram to it.
    ///
    /// A TCP connection's name is set when it is opened (`tcp connect --secure ...
    /// --peer-target-name NAME`): after connect it is too late, and the driver refuses a
    /// TCP endpoint here with STATUS_INVALID_DEVICE_STATE.
    #[command(
        after_help = "Example:\n  wskctl secure set-peer-name 5 127.0.0.1:9000 host/server.example --protocol ipsec"
    )]
    SetPeerName(SetPeerNameArgs),
    /// Forget a UDP endpoint's peer target name (SIO_DELETE_PEER_TARGET_NAME).
    #[command(after_help = "Example:\n  wskctl secure delete-peer-name 5 127.0.0.1:9000")]
    DeletePeerName(DeletePeerNameArgs),
}

/// Arguments of `wskctl secure query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The endpoint id: a TCP connection, or a UDP endpoint with --peer.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// The UDP endpoint's peer (required for a UDP endpoint, refused for a connection).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) peer: Option<SocketAddr>,
}

/// Arguments of `wskctl secure set-peer-name`.
#[derive(Debug, Args)]
pub(crate) struct SetPeerNameArgs {
    /// The UDP endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// The peer the name is for.
    #[arg(value_name = "PEER")]
    pub(crate) peer: SocketAddr,
    /// The name (1 to 127 bytes), e.g. host/server.example.
    #[arg(value_name = "NAME", value_parser = parse_peer_target_name)]
    pub(crate) name: String,
    /// The security protocol the name is for.
    #[arg(long, value_name = "PROTOCOL", value_enum, default_value = "default")]
    pub(crate) protocol: ProtocolArg,
}

/// Arguments of `wskctl secure delete-peer-name`.
#[derive(Debug, Args)]
pub(crate) struct DeletePeerNameArgs {
    /// The UDP endpoint id.
    #[arg(value_parser = parse_endpoint_id)]
    pub(crate) id: EndpointId,
    /// The peer whose name to forget.
    #[arg(value_name = "PEER")]
    pub(crate) peer: SocketAddr,
}

/// `wskctl secure ...`.
pub(crate) fn run(
    device: &Device,
    command: &SecureCommand,
    format: Format,
    streams: &mut Streams<'_>,
) -> Result<u8, ClientError> {
    match command {
        SecureCommand::Query(args) => {
            let query = device.query_security(args.id, args.peer)?;
            streams.reply(
                format,
                &output::SecurityQueried::new(args.id.0, args.peer, &query),
            )?;
        }
        SecureCommand::SetPeerName(args) => {
            device.set_peer_target_name(args.id, args.peer, args.protocol.into(), &args.name)?;
            let reply = output::PeerTargetName::set(args.id.0, args.peer, &args.name);
            streams.reply(format, &reply)?;
        }
        SecureCommand::DeletePeerName(args) => {
            device.delete_peer_target_name(args.id, args.peer)?;
            streams.reply(
                format,
                &output::PeerTargetName::deleted(args.id.0, args.peer),
            )?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::cli::testing::wskctl;
    use wskrs_host_driver::HostDriver;

    #[test]
    fn secure_settings_apply_at_creation_and_the_query_reports_them() {
        let driver = HostDriver::default();
        // Settings that allow clear text are kept; the provider has no IPsec.
        let out = wskctl(
            &driver,
            "tcp listen 127.0.0.1:9300 --service echo --secure default --allow-insecure --detach",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = wskctl(
            &driver,
            "tcp connect 127.0.0.1:9300 --secure ipsec --allow-insecure --peer-target-name host/a --detach",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = wskctl(&driver, "secure query 2");
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "endpoint 2: protocol ipsec, not secured, not encrypted\n"
        );
        let out = wskctl(&driver, "--json secure query 2");
        assert_eq!(
            out.stdout,
            "{\"id\":2,\"peer\":null,\"protocol\":\"ipsec\",\"protocol_value\":1,\"flags\":0,\"secured\":false,\"encrypted\":false}\n"
        );
        // Settings that require security: not supported without IPsec.
        let out = wskctl(
            &driver,
            "tcp connect 127.0.0.1:9300 --secure default --detach",
        );
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("STATUS_NOT_SUPPORTED"),
            "{}",
            out.stderr
        );
        // A peer target name needs --secure; one too long is a usage error.
        let out = wskctl(&driver, "tcp connect 127.0.0.1:9300 --peer-target-name x");
        assert_eq!(out.code, 2, "{}", out.stderr);
        let long = "n".repeat(128);
        let out = wskctl(
            &driver,
            &format!("tcp connect 127.0.0.1:9300 --secure default --allow-insecure --peer-target-name {long}"),
        );
        assert_eq!(out.code, 2, "{}", out.stderr);
    }

    #[test]
    fn a_udp_endpoint_names_its_peers() {
        let driver = HostDriver::default();
        let out = wskctl(&driver, "udp bind 127.0.0.1:9301 --detach");
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = wskctl(&driver, "secure set-peer-name 1 127.0.0.1:9302 host/peer");
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "endpoint 1: peer 127.0.0.1:9302 named host/peer\n"
        );
        let out = wskctl(&driver, "--json secure delete-peer-name 1 127.0.0.1:9302");
        assert_eq!(
            out.stdout,
            "{\"id\":1,\"peer\":\"127.0.0.1:9302\",\"name\":null}\n"
        );
        let out = wskctl(&driver, "secure delete-peer-name 1 127.0.0.1:9302");
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("STATUS_NOT_FOUND"), "{}", out.stderr);
        // The UDP query needs the peer; a connection refuses one.
        let out = wskctl(&driver, "secure query 1");
        assert!(
            out.stderr.contains("STATUS_INVALID_PARAMETER"),
            "{}",
            out.stderr
        );
        let out = wskctl(&driver, "secure query 1 --peer 127.0.0.1:9302");
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
}
