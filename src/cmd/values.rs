//! The command line's names for the choices the layers below define
//! (`--bind-mode`, `--close`, `--mode`): clap's `ValueEnum` implemented
//! here, so those layers never import clap. Each name is the type's serde
//! name, so a flag and the JSON report spell a choice the same way (a
//! test checks it).

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::plan::BindMode;
use crate::proxy;
use crate::traffic::Mode;
use crate::wire::CloseMode;
use crate::ws::Heartbeat;

impl ValueEnum for Heartbeat {
    fn value_variants<'a>() -> &'a [Self] {
        &[Heartbeat::Ping, Heartbeat::Text]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Heartbeat::Ping => PossibleValue::new("ping").help(
                "a ping frame carrying the message (at most 125 bytes); the pong, which every server must send, is the reply",
            ),
            Heartbeat::Text => PossibleValue::new("text")
                .help("a text frame carrying the message; an echo server's text frame is the reply"),
        })
    }
}

impl ValueEnum for BindMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            BindMode::None,
            BindMode::NoPort,
            BindMode::Plain,
            BindMode::Range,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            BindMode::None => {
                PossibleValue::new("none").help("no bind: the kernel picks address and port")
            }
            BindMode::NoPort => PossibleValue::new("no-port").help(
                "IP_BIND_ADDRESS_NO_PORT + bind(ip, 0): the port is picked at connect() per (source, destination) pair",
            ),
            BindMode::Plain => PossibleValue::new("plain").help(
                "plain bind(ip, 0): one port per source address, whatever the destination",
            ),
            BindMode::Range => PossibleValue::new("range").help(
                "IP_LOCAL_PORT_RANGE (Linux 6.3+): each client worker gets its own slice of the local port range",
            ),
        })
    }
}

impl ValueEnum for CloseMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[CloseMode::Rst, CloseMode::Fin]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            CloseMode::Rst => {
                PossibleValue::new("rst").help("SO_LINGER 0: an RST each, no TIME_WAIT left behind")
            }
            CloseMode::Fin => PossibleValue::new("fin")
                .help("an orderly FIN each; the closing side keeps TIME_WAIT for 60 s"),
        })
    }
}

impl ValueEnum for proxy::Version {
    fn value_variants<'a>() -> &'a [Self] {
        &[proxy::Version::V1, proxy::Version::V2]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            proxy::Version::V1 => PossibleValue::new("v1")
                .help("a text line: PROXY TCP4 SRC DST SPORT DPORT\\r\\n (at most 107 bytes)"),
            proxy::Version::V2 => PossibleValue::new("v2").help(
                "binary: a 12-byte signature, PROXY over STREAM, the addresses (28 bytes for IPv4, 52 for IPv6)",
            ),
        })
    }
}

impl ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &[Mode::Idle, Mode::Heartbeat]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Mode::Idle => PossibleValue::new("idle").help("hold and nothing else"),
            Mode::Heartbeat => PossibleValue::new("heartbeat")
                .help("send the message every interval and time the reply"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flag's name of a choice is its JSON name.
    fn same_names<T: ValueEnum + serde::Serialize>() {
        for v in T::value_variants() {
            let flag = v.to_possible_value().unwrap().get_name().to_string();
            let json = serde_json::to_value(v).unwrap();
            assert_eq!(json, serde_json::Value::String(flag));
        }
    }

    #[test]
    fn flags_and_reports_spell_choices_alike() {
        same_names::<BindMode>();
        same_names::<CloseMode>();
        same_names::<Mode>();
        same_names::<proxy::Version>();
    }
}
