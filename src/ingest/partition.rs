//! Which Kinesis partition key an entry goes to.
//!
//! - the target `ip:port` (IPv6 without brackets), `key_kind: target`;
//! - no target (ALB answered itself: 503 no healthy target, WAF 403, redirects…): the target
//!   group ARN, `key_kind: target_group`;
//! - neither: the load balancer id, `key_kind: load_balancer`.
//!
//! Keys longer than [`KINESIS_MAX_PARTITION_KEY`] characters are cut and suffixed with a hash
//! of the whole key, so the result is deterministic and distinct keys stay distinct.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use crate::alb::{AlbEntry, Field};
use crate::ingest::config::KINESIS_MAX_PARTITION_KEY;
use crate::record::KeyKind;
use crate::text::clip_chars;

/// Hex digits of the hash that replaces the end of an over-long key.
const HASH_HEX: usize = 16;

/// Writes the partition key of `entry` into `out` (cleared first) and says what it names.
pub fn partition_key(entry: &AlbEntry<'_>, out: &mut String) -> KeyKind {
    out.clear();
    let kind = if let Some(target) = entry.target() {
        out.push_str(target.ip);
        out.push(':');
        // Writing to a String cannot fail.
        let _ = write!(out, "{}", target.port);
        KeyKind::Target
    } else if let Some(arn) = entry.text(Field::TargetGroupArn) {
        out.push_str(&arn);
        KeyKind::TargetGroup
    } else {
        out.push_str(&entry.elb());
        KeyKind::LoadBalancer
    };
    if out.is_empty() {
        out.push('-');
    }
    fit_partition_key(out);
    kind
}

/// Shortens `key` to at most [`KINESIS_MAX_PARTITION_KEY`] characters: the first characters,
/// `#`, and 16 hex digits of a stable hash of the whole key. Shorter keys are left alone.
pub fn fit_partition_key(key: &mut String) {
    // At most that many bytes is at most that many characters: the usual case, checked first.
    if key.len() <= KINESIS_MAX_PARTITION_KEY
        || key.chars().nth(KINESIS_MAX_PARTITION_KEY).is_none()
    {
        return;
    }
    #[allow(deprecated)] // SipHash with fixed keys: stable across processes and builds.
    let mut h = std::hash::SipHasher::new();
    key.hash(&mut h);
    let hash = h.finish();
    let keep = KINESIS_MAX_PARTITION_KEY - HASH_HEX - 1;
    key.truncate(clip_chars(key, keep).len());
    let _ = write!(key, "#{hash:0HASH_HEX$x}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::parse_line;
    use proptest::prelude::*;

    const LINE: &str = r#"https 2025-06-21T22:45:00.1Z app/shop/1 192.0.2.1:5000 10.0.1.11:8080 0.001 0.002 0.000 502 502 1 2 "GET https://x/ HTTP/1.1" "ua" - - arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/9 "Root=1-a" "-" "-" 0 2025-06-21T22:45:00.0Z "forward" "-" "-" "10.0.1.11:8080" "502" "-" "-""#;

    fn key_of(line: &str) -> (String, KeyKind) {
        let e = parse_line(line.as_bytes()).unwrap();
        let mut out = String::from("junk");
        let kind = partition_key(&e, &mut out);
        (out, kind)
    }

    #[test]
    fn target_then_target_group_then_load_balancer() {
        assert_eq!(key_of(LINE), ("10.0.1.11:8080".into(), KeyKind::Target));
        let no_target = LINE.replace(" 10.0.1.11:8080 0.001", " - 0.001");
        assert_eq!(
            key_of(&no_target),
            (
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/9".into(),
                KeyKind::TargetGroup
            )
        );
        let neither = no_target.replace(
            " arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/9 ",
            " - ",
        );
        assert_eq!(
            key_of(&neither),
            ("app/shop/1".into(), KeyKind::LoadBalancer)
        );
        let v6 = LINE.replace(" 10.0.1.11:8080 0.001", " [2001:db8::1]:443 0.001");
        assert_eq!(key_of(&v6), ("2001:db8::1:443".into(), KeyKind::Target));
    }

    #[test]
    fn long_keys_are_cut_with_a_hash() {
        let long = "a".repeat(300);
        let mut k = long.clone();
        fit_partition_key(&mut k);
        assert_eq!(k.chars().count(), KINESIS_MAX_PARTITION_KEY);
        assert!(k.starts_with(&"a".repeat(200)));
        let mut again = long.clone();
        fit_partition_key(&mut again);
        assert_eq!(k, again);
        let mut other = format!("{}b", "a".repeat(299));
        fit_partition_key(&mut other);
        assert_ne!(k, other);
        let mut exact = "é".repeat(KINESIS_MAX_PARTITION_KEY);
        fit_partition_key(&mut exact);
        assert_eq!(exact, "é".repeat(KINESIS_MAX_PARTITION_KEY));
    }

    proptest! {
        #[test]
        fn fitted_keys_are_short_and_stable(key in "\\PC{0,400}") {
            let mut a = key.clone();
            fit_partition_key(&mut a);
            prop_assert!(a.chars().count() <= KINESIS_MAX_PARTITION_KEY);
            if key.chars().count() <= KINESIS_MAX_PARTITION_KEY {
                prop_assert_eq!(&a, &key);
            }
            let mut b = key.clone();
            fit_partition_key(&mut b);
            prop_assert_eq!(a, b);
        }
    }
}
