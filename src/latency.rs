//! Latency histograms: one set per worker, sent to the supervisor once a
//! second as interval histograms and merged there (HdrHistogram, so merged
//! percentiles are exact to the histogram's precision, not averages of
//! percentiles).
//!
//! Pure, no I/O. A value outside 1 µs to one hour is clamped into range,
//! never dropped, so every sample is counted.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

/// Microseconds, from 1 µs to one hour.
const HIGHEST_US: u64 = 3_600_000_000;
/// Two significant digits: 1% resolution, and a histogram of a few
/// kilobytes, so a hundred workers' sets cost little memory.
const SIGFIG: u8 = 2;

/// What is timed, each in microseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    /// connect() to established.
    pub connect: Histogram<u64>,
    /// TLS: established to the TLS handshake's end (the ClientHello's
    /// send to the handshake's last message handled).
    pub tls_handshake: Histogram<u64>,
    /// WebSocket: the end of the layer below (TCP's handshake, or TLS's)
    /// to the upgrade's 101 read whole.
    pub ws_upgrade: Histogram<u64>,
    /// Scheduled send to the first byte of the reply.
    pub first_byte: Histogram<u64>,
    /// Scheduled send to the whole expected reply.
    pub rtt: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG).expect("constant bounds are valid")
}

impl Latency {
    /// Five empty histograms, each taking values from 1 µs to one hour at
    /// two significant digits.
    pub fn new() -> Self {
        Self {
            connect: histogram(),
            tls_handshake: histogram(),
            ws_upgrade: histogram(),
            first_byte: histogram(),
            rtt: histogram(),
        }
    }

    /// Records a value, clamped into range (a value over an hour is an
    /// hour; nothing is lost silently from the count).
    pub fn record(h: &mut Histogram<u64>, us: u64) {
        let _ = h.record(us.clamp(1, HIGHEST_US));
    }

    /// Whether anything was recorded.
    pub fn is_empty(&self) -> bool {
        self.connect.is_empty()
            && self.tls_handshake.is_empty()
            && self.ws_upgrade.is_empty()
            && self.first_byte.is_empty()
            && self.rtt.is_empty()
    }

    /// Adds another set.
    pub fn merge(&mut self, o: &Latency) {
        let _ = self.connect.add(&o.connect);
        let _ = self.tls_handshake.add(&o.tls_handshake);
        let _ = self.ws_upgrade.add(&o.ws_upgrade);
        let _ = self.first_byte.add(&o.first_byte);
        let _ = self.rtt.add(&o.rtt);
    }

    /// Empties every histogram (after sending an interval).
    pub fn reset(&mut self) {
        self.connect.reset();
        self.tls_handshake.reset();
        self.ws_upgrade.reset();
        self.first_byte.reset();
        self.rtt.reset();
    }

    /// The set in a form that travels in a JSON line.
    pub fn encode(&self) -> Encoded {
        let mut out = Encoded::default();
        self.encode_into(&mut Encoder::new(), &mut out);
        out
    }

    /// [`Latency::encode`] into `out`, its strings' capacity kept, with
    /// `enc`'s buffers: a worker encodes once a second for as long as it
    /// holds connections, and fresh buffers each time (a serializer's
    /// ~30 KiB, the blob, its base64) fragmented its heap.
    pub fn encode_into(&self, enc: &mut Encoder, out: &mut Encoded) {
        enc.put(&self.connect, &mut out.connect);
        if self.tls_handshake.is_empty() {
            out.tls_handshake.clear();
        } else {
            enc.put(&self.tls_handshake, &mut out.tls_handshake);
        }
        if self.ws_upgrade.is_empty() {
            out.ws_upgrade.clear();
        } else {
            enc.put(&self.ws_upgrade, &mut out.ws_upgrade);
        }
        enc.put(&self.first_byte, &mut out.first_byte);
        enc.put(&self.rtt, &mut out.rtt);
    }

    /// Reads a set back; `None` if any part is damaged.
    pub fn decode(e: &Encoded) -> Option<Self> {
        Some(Self {
            connect: decode(&e.connect)?,
            // Empty without TLS, and absent from older reports.
            tls_handshake: if e.tls_handshake.is_empty() {
                histogram()
            } else {
                decode(&e.tls_handshake)?
            },
            ws_upgrade: if e.ws_upgrade.is_empty() {
                histogram()
            } else {
                decode(&e.ws_upgrade)?
            },
            first_byte: decode(&e.first_byte)?,
            rtt: decode(&e.rtt)?,
        })
    }
}

/// A [`Latency`] set as base64 HdrHistogram V2 blobs (the
/// HdrHistogram "V2" encoding, `hdrhistogram::serialization`), each 1 µs
/// to one hour at two significant digits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Encoded {
    /// [`Latency::connect`], base64 of its V2 serialization (empty if it
    /// could not be serialized).
    pub connect: String,
    /// [`Latency::tls_handshake`], encoded the same way; empty when
    /// nothing was recorded (no TLS), absent from older reports.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tls_handshake: String,
    /// [`Latency::ws_upgrade`], encoded the same way; empty when nothing
    /// was recorded (no WebSocket), absent from older reports.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ws_upgrade: String,
    /// [`Latency::first_byte`], encoded the same way.
    pub first_byte: String,
    /// [`Latency::rtt`], encoded the same way.
    pub rtt: String,
}

/// The buffers [`Latency::encode_into`] reuses: the V2 serializer's own
/// and the serialized blob's.
pub struct Encoder {
    serializer: V2Serializer,
    blob: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// Empty buffers, grown by the first use and kept.
    pub fn new() -> Self {
        Self {
            serializer: V2Serializer::new(),
            blob: Vec::new(),
        }
    }

    /// `h` as base64 of its V2 serialization, into `out` (empty if it
    /// could not be serialized).
    fn put(&mut self, h: &Histogram<u64>, out: &mut String) {
        out.clear();
        self.blob.clear();
        if self.serializer.serialize(h, &mut self.blob).is_ok() {
            STANDARD.encode_string(&self.blob, out);
        }
    }
}

fn decode(s: &str) -> Option<Histogram<u64>> {
    let bytes = STANDARD.decode(s).ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

/// Percentiles of one histogram, in microseconds (HdrHistogram, two
/// significant digits: within 1%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median, µs.
    pub p50: u64,
    /// 90th percentile, µs.
    pub p90: u64,
    /// 99th percentile, µs.
    pub p99: u64,
    /// 99.9th percentile, µs.
    pub p999: u64,
    /// The largest, µs.
    pub max: u64,
    /// The mean, µs.
    pub mean: f64,
}

impl Percentiles {
    /// `None` for an empty histogram.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        })
    }
}

/// Microseconds as `850 µs`, `12.3 ms`, `1.20 s`.
pub fn human_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_merge_and_percentiles() {
        let mut a = Latency::new();
        for us in 1..=1000 {
            Latency::record(&mut a.rtt, us);
        }
        Latency::record(&mut a.connect, 0); // clamped to 1
        Latency::record(&mut a.connect, u64::MAX); // clamped to an hour
        assert!(a.encode().tls_handshake.is_empty(), "nothing: no blob");
        Latency::record(&mut a.tls_handshake, 700);
        let back = Latency::decode(&a.encode()).unwrap();
        assert_eq!(back.tls_handshake.len(), 1);
        assert_eq!(back.rtt.len(), 1000);
        assert_eq!(back.connect.len(), 2);
        let mut total = Latency::new();
        total.merge(&back);
        total.merge(&back);
        let p = Percentiles::of(&total.rtt).unwrap();
        assert_eq!(p.count, 2000);
        assert!((495..=505).contains(&p.p50), "{p:?}");
        assert!((985..=1000).contains(&p.p99), "{p:?}");
        assert!(Percentiles::of(&total.first_byte).is_none());
    }

    #[test]
    fn reused_buffers_encode_each_set_as_a_fresh_one() {
        let (mut enc, mut out) = (Encoder::new(), Encoded::default());
        let mut big = Latency::new();
        for us in 1..=100_000 {
            Latency::record(&mut big.rtt, us);
        }
        Latency::record(&mut big.tls_handshake, 9);
        big.encode_into(&mut enc, &mut out);
        assert_eq!(out, big.encode());
        // A smaller set after it: nothing of the first one is left.
        let mut small = Latency::new();
        Latency::record(&mut small.rtt, 5);
        small.encode_into(&mut enc, &mut out);
        assert_eq!(out, small.encode());
        assert!(out.tls_handshake.is_empty());
        let back = Latency::decode(&out).unwrap();
        assert_eq!((back.rtt.len(), back.rtt.max()), (1, 5));
    }

    #[test]
    fn damaged_blobs_are_refused() {
        let mut e = Latency::new().encode();
        e.rtt = "not base64!".into();
        assert!(Latency::decode(&e).is_none());
        e.rtt = STANDARD.encode(b"garbage");
        assert!(Latency::decode(&e).is_none());
    }

    #[test]
    fn human_units() {
        assert_eq!(human_us(850), "850 µs");
        assert_eq!(human_us(12_345), "12.3 ms");
        assert_eq!(human_us(1_200_000), "1.20 s");
    }

    #[test]
    fn a_histogram_is_small() {
        // A hundred workers × three histograms must stay cheap.
        let bytes = histogram().distinct_values() * 8;
        assert!(bytes < 64 * 1024, "{bytes}");
    }
}
