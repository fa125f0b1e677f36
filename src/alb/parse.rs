//! The ALB access-log line parser: one pass, zero-copy, never panics, liberal in what it accepts.
//!
//! Fields are separated by single spaces; a field starting with `"` runs to the next `"` that is
//! not escaped by a backslash and is followed by a space or the end of the line. Fields are read
//! by position: a line needs at least the [`MIN_FIELD_COUNT`] fields of the oldest layout, and
//! fields after the last documented one are kept as `extra` (AWS: "ignore any fields at the end
//! of the log entry that you were not expecting").
//!
//! A line is rejected only when a field the alerts need cannot be read ([`Field::is_required`]:
//! type, time, elb, client and target, elb_status_code). Any other field that fails its check
//! is read as absent and reported as a field warning ([`AlbEntry::field_warnings`]); the entry
//! still counts. Typed values are converted on demand by [`AlbEntry`]'s accessors.

use crate::alb::entry::AlbEntry;
use crate::alb::escape::closing_quote;
use crate::alb::field::{
    FIELD_COUNT, Field, MIN_FIELD_COUNT, ParseErrorKind, ParseLineError, validate,
};

/// Whether a line holds nothing but whitespace (blank lines are skipped, not malformed).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Parses one access-log line (its `\n` or `\r\n` ending may be present).
pub fn parse_line(line: &[u8]) -> Result<AlbEntry<'_>, ParseLineError> {
    let line = trim_end(line);
    if line.is_empty() {
        return Err(error(Field::Type, 0, ParseErrorKind::Empty));
    }
    let len = line.len();
    let mut fields: [&[u8]; FIELD_COUNT] = [b"-"; FIELD_COUNT];
    let mut invalid = 0u64;
    let mut pos = 0;
    let mut count = 0;
    while count < FIELD_COUNT && pos < len {
        let field = Field::ALL[count];
        let start = pos;
        let quoted = line[pos] == b'"';
        let (value, end) = if quoted {
            let close = closing_quote(line, pos + 1)
                .ok_or_else(|| error(field, start, ParseErrorKind::UnterminatedQuote))?;
            (&line[pos + 1..close], close + 1)
        } else {
            let end = memchr::memchr(b' ', &line[pos..]).map_or(len, |o| pos + o);
            (&line[pos..end], end)
        };
        // `end` is a space (a closing quote is always followed by one) or the end of the line.
        pos = (end + 1).min(len);
        if let Err(kind) = validate(field, value, quoted) {
            if field.is_required() {
                return Err(error(field, start, kind));
            }
            invalid |= 1 << count;
        }
        fields[count] = value;
        count += 1;
    }
    if count < MIN_FIELD_COUNT {
        return Err(error(
            Field::ALL[count],
            len,
            ParseErrorKind::FieldCount { found: count },
        ));
    }
    let extra = if count == FIELD_COUNT {
        &line[pos..]
    } else {
        b""
    };
    Ok(AlbEntry {
        line,
        fields,
        present: count as u8,
        invalid,
        extra,
    })
}

fn error(field: Field, offset: usize, kind: ParseErrorKind) -> ParseLineError {
    ParseLineError {
        field: field.name(),
        offset,
        kind,
    }
}

fn trim_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTPS: &str = r#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90 "-" "-" "-""#;

    #[test]
    fn parses_every_documented_field() {
        let e = parse_line(HTTPS.as_bytes()).unwrap();
        assert_eq!(e.field_count(), 33);
        assert_eq!(e.time(), "2018-07-02T22:23:00.186641Z");
        assert_eq!(e.minute(), "2018-07-02T22:23");
        assert_eq!(e.elb(), "app/my-loadbalancer/50dc6c495c0c9188");
        assert_eq!(e.client().unwrap().ip, "192.168.131.39");
        assert_eq!(e.target().unwrap().port, 80);
        assert_eq!(e.number(Field::RequestProcessingTime), Some(0.086));
        assert_eq!(e.elb_status_code(), Some(200));
        assert_eq!(e.integer(Field::SentBytes), Some(57));
        let r = e.request().unwrap();
        assert_eq!((r.verb, r.proto), (&b"GET"[..], &b"HTTP/1.1"[..]));
        assert_eq!(e.text(Field::UserAgent).unwrap(), "curl/7.46.0");
        assert_eq!(
            e.text(Field::ActionsExecuted).unwrap(),
            "authenticate,forward"
        );
        assert_eq!(e.text(Field::RedirectUrl), None);
        assert_eq!(e.text(Field::TargetStatusCodeList).unwrap(), "200");
        assert_eq!(e.text(Field::ConnTraceId).unwrap(), "TID_1234abcd5678ef90");
        assert_eq!(e.extra().count(), 0);
        assert!(!e.is_5xx());
    }

    fn with_fields(n: usize) -> String {
        let mut out = String::new();
        let mut rest = HTTPS;
        for i in 0..n {
            let end = if rest.starts_with('"') {
                closing_quote(rest.as_bytes(), 1).unwrap() + 1
            } else {
                rest.find(' ').unwrap_or(rest.len())
            };
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&rest[..end]);
            rest = rest.get(end + 1..).unwrap_or("");
        }
        out
    }

    #[test]
    fn any_field_count_from_the_oldest_layout_up_parses() {
        for n in MIN_FIELD_COUNT..=FIELD_COUNT {
            let line = with_fields(n);
            let e = parse_line(line.as_bytes()).unwrap_or_else(|err| panic!("{n}: {err}"));
            assert_eq!(e.field_count(), n);
            assert_eq!(e.text(Field::ErrorReason), None);
            assert_eq!(e.raw(Field::ConnTraceId).is_some(), n >= 30);
            assert_eq!(e.text(Field::TargetPortList).is_some(), n >= 26, "{n}");
            assert!(!e.has_field_warnings());
        }
        for n in [1, 5, 24] {
            let err = parse_line(with_fields(n).as_bytes()).unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::FieldCount { found: n });
            assert_eq!(err.field, Field::ALL[n].name());
        }
    }

    #[test]
    fn rule_priority_domain_is_minus_one_and_zero_to_50000() {
        // AWS: "The priority value of the rule that matched the request. If a rule matched, this
        // is a value from 1 to 50,000. If no rule matched and the default action was taken, this
        // value is set to 0. If an error occurs during rules evaluation, it is set to -1. For any
        // other error, it is set to `-`."
        for (raw, want) in [
            ("-1", Some(-1)),
            ("0", Some(0)),
            ("1", Some(1)),
            ("50000", Some(50_000)),
            ("-", None),
        ] {
            let line = HTTPS.replace(
                " 1 2018-07-02T22:22:48",
                &format!(" {raw} 2018-07-02T22:22:48"),
            );
            let e = parse_line(line.as_bytes()).unwrap();
            assert_eq!(e.rule_priority(), want, "{raw}");
            assert!(!e.has_field_warnings(), "{raw}");
        }
        for raw in ["50001", "-2", "1.5", "x", "99999999999"] {
            let line = HTTPS.replace(
                " 1 2018-07-02T22:22:48",
                &format!(" {raw} 2018-07-02T22:22:48"),
            );
            let e = parse_line(line.as_bytes()).unwrap();
            assert_eq!(e.rule_priority(), None, "{raw}");
            let w: Vec<_> = e.field_warnings().collect();
            assert_eq!(w.len(), 1, "{raw}");
            assert_eq!(w[0].field, "matched_rule_priority");
            assert_eq!(w[0].kind, ParseErrorKind::BadPriority);
            assert_eq!(
                &line.as_bytes()[w[0].offset..w[0].offset + raw.len()],
                raw.as_bytes()
            );
        }
    }

    #[test]
    fn unreadable_optional_fields_are_warnings_and_the_entry_counts() {
        let bad = HTTPS
            .replace(
                "0.086 0.048 0.037 200 200 0 57",
                "abc 0.048 0.037 200 2x0 0 5x7",
            )
            .replace(" 2018-07-02T22:22:48.364000Z", " yesterday");
        let e = parse_line(bad.as_bytes()).unwrap();
        let warned: Vec<_> = e.field_warnings().map(|w| (w.field, w.kind)).collect();
        assert_eq!(
            warned,
            [
                ("request_processing_time", ParseErrorKind::BadNumber),
                ("target_status_code", ParseErrorKind::BadStatusCode),
                ("sent_bytes", ParseErrorKind::BadNumber),
                ("request_creation_time", ParseErrorKind::BadTime),
            ]
        );
        assert_eq!(e.number(Field::RequestProcessingTime), None);
        assert_eq!(e.target_status_code(), None);
        assert_eq!(e.integer(Field::SentBytes), None);
        assert_eq!(e.text(Field::RequestCreationTime), None);
        assert_eq!(e.elb_status_code(), Some(200));
        let w = e.field_warnings().next().unwrap();
        assert_eq!(&bad.as_bytes()[w.offset..w.offset + 3], b"abc");
        assert_eq!(
            w.to_string(),
            format!("request_processing_time: not a number (byte {})", w.offset)
        );
    }

    #[test]
    fn a_5xx_with_an_unreadable_target_status_is_still_a_5xx() {
        let line = HTTPS.replace(" 200 200 ", " 502 5o2 ");
        let e = parse_line(line.as_bytes()).unwrap();
        assert!(e.is_5xx());
        assert_eq!(e.target_status_code(), None);
        let line = HTTPS.replace(" 200 200 ", " 200 5o2 ");
        assert!(!parse_line(line.as_bytes()).unwrap().is_5xx());
    }

    #[test]
    fn trailing_extra_fields_are_kept() {
        let line = format!("{HTTPS} \"-\" \"new thing\" bare\r\n");
        let e = parse_line(line.as_bytes()).unwrap();
        let extra: Vec<_> = e.extra().collect();
        assert_eq!(extra, vec![&b"-"[..], b"new thing", b"bare"]);
    }

    #[test]
    fn quotes_in_both_escape_styles() {
        let ua_alb = HTTPS.replace("\"curl/7.46.0\"", r#""say \x22hi\x22 \x5C""#);
        let e = parse_line(ua_alb.as_bytes()).unwrap();
        assert_eq!(e.text(Field::UserAgent).unwrap(), r#"say "hi" \"#);
        let ua_other = HTTPS.replace("\"curl/7.46.0\"", r#""say \"hi\" \\""#);
        let e = parse_line(ua_other.as_bytes()).unwrap();
        assert_eq!(e.text(Field::UserAgent).unwrap(), r#"say "hi" \"#);
    }

    #[test]
    fn required_fields_fail_the_line_with_field_and_offset() {
        let bad = HTTPS.replace(" 200 200 ", " 2x0 200 ");
        let err = parse_line(bad.as_bytes()).unwrap_err();
        assert_eq!(err.field, "elb_status_code");
        assert_eq!(err.kind, ParseErrorKind::BadStatusCode);
        assert_eq!(&bad.as_bytes()[err.offset..err.offset + 3], b"2x0");

        let bad = HTTPS.replace("2018-07-02T22:23:00.186641Z", "2018-07-02 22:23");
        assert_eq!(
            parse_line(bad.as_bytes()).unwrap_err().kind,
            ParseErrorKind::BadTime
        );
        let bad = HTTPS.replace("https 2018", "HTTPS 2018");
        assert_eq!(parse_line(bad.as_bytes()).unwrap_err().field, "type");
        let bad = HTTPS.replace(" 10.0.0.1:80 0.086", " 10.0.0.1 0.086");
        assert_eq!(parse_line(bad.as_bytes()).unwrap_err().field, "target:port");
        let bad = HTTPS.replace(" 192.168.131.39:2817", " 192.168.131.39");
        assert_eq!(parse_line(bad.as_bytes()).unwrap_err().field, "client:port");
        assert_eq!(parse_line(b"garbage").unwrap_err().field, "time");
        assert_eq!(parse_line(b"\r\n").unwrap_err().kind, ParseErrorKind::Empty);
        let truncated = &HTTPS[..200];
        assert!(parse_line(truncated.as_bytes()).is_err());
    }

    #[test]
    fn minus_one_timings_and_absent_target() {
        let line = HTTPS
            .replace("10.0.0.1:80 0.086 0.048 0.037 200 200", "- -1 -1 -1 503 -")
            .replace("\"10.0.0.1:80\" \"200\"", "\"-\" \"-\"");
        let e = parse_line(line.as_bytes()).unwrap();
        assert_eq!(e.target(), None);
        assert_eq!(e.number(Field::TargetProcessingTime), Some(-1.0));
        assert_eq!(e.target_status_code(), None);
        assert!(e.is_5xx());
    }

    mod generated {
        use super::*;
        use crate::alb::escape::escape_alb;
        use proptest::prelude::*;

        /// Field values of a generated entry, as the parser should give them back.
        #[derive(Debug, Clone)]
        struct Gen {
            kind: &'static str,
            time: String,
            client: (String, u16, bool),
            target: Option<(String, u16)>,
            timing: Option<String>,
            elb_status: u16,
            target_status: Option<u16>,
            sent: u64,
            request: (String, String, String),
            user_agent: String,
            error_reason: Option<String>,
            priority: Option<i32>,
            request_padding: usize,
            fields: usize,
            extra: Vec<String>,
        }

        fn ip() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<[u8; 4]>().prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
                any::<[u16; 3]>()
                    .prop_map(|w| format!("2001:db8:{:x}::{:x}:{:x}", w[0], w[1], w[2])),
            ]
        }

        fn text() -> impl Strategy<Value = String> {
            "[ -~é\"\\\\<>&\u{1F600}]{1,40}"
        }

        fn entry() -> impl Strategy<Value = Gen> {
            (
                (
                    prop::sample::select(vec!["http", "https", "h2", "ws", "wss", "grpcs"]),
                    (0u32..28, 0u32..24, 0u32..60, 0u32..1_000_000).prop_map(|(d, h, m, us)| {
                        format!("2025-06-{:02}T{h:02}:{m:02}:{:02}.{us:06}Z", d + 1, m % 60)
                    }),
                    (ip(), any::<u16>(), any::<bool>()),
                    proptest::option::of((ip(), any::<u16>())),
                    proptest::option::of(
                        (0u32..100, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b:03}")),
                    ),
                    (100u16..600, proptest::option::of(100u16..600), any::<u64>()),
                ),
                (
                    (
                        "[A-Z]{3,7}",
                        "[!-~]{1,30}( [!-~]{1,10})?",
                        "HTTP/[12]\\.[01]",
                    ),
                    text(),
                    proptest::option::of("[A-Za-z]{3,20}"),
                    MIN_FIELD_COUNT..=FIELD_COUNT,
                    proptest::collection::vec(text(), 0..3),
                    proptest::option::of(prop_oneof![Just(-1), 0..=50_000i32]),
                    0usize..3,
                ),
            )
                .prop_map(
                    |(
                        (kind, time, client, target, timing, (elb_status, target_status, sent)),
                        (
                            request,
                            user_agent,
                            error_reason,
                            fields,
                            extra,
                            priority,
                            request_padding,
                        ),
                    )| Gen {
                        kind,
                        time,
                        client,
                        target,
                        timing,
                        elb_status,
                        target_status,
                        sent,
                        request,
                        user_agent,
                        error_reason,
                        priority,
                        request_padding,
                        fields,
                        extra: if fields == 33 { extra } else { Vec::new() },
                    },
                )
        }

        fn format_line(g: &Gen) -> String {
            let client = if g.client.2 && g.client.0.contains(':') {
                format!("[{}]:{}", g.client.0, g.client.1)
            } else {
                format!("{}:{}", g.client.0, g.client.1)
            };
            let target = g
                .target
                .as_ref()
                .map_or("-".to_owned(), |(ip, port)| format!("{ip}:{port}"));
            let timing = g.timing.clone().unwrap_or_else(|| "-1".to_owned());
            let status = |s: Option<u16>| s.map_or("-".to_owned(), |s| s.to_string());
            let q = |s: &str| format!("\"{}\"", escape_alb(s));
            let request = format!(
                "{} {} {}{}",
                g.request.0,
                g.request.1,
                g.request.2,
                " ".repeat(g.request_padding)
            );
            let all = [
                g.kind.to_owned(),
                g.time.clone(),
                "app/lb/1".into(),
                client,
                target,
                timing.clone(),
                timing.clone(),
                timing,
                g.elb_status.to_string(),
                status(g.target_status),
                "0".into(),
                g.sent.to_string()[..g.sent.to_string().len().min(19)].to_owned(),
                q(&request),
                q(&g.user_agent),
                "-".into(),
                "-".into(),
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t/1".into(),
                q("Root=1-abc"),
                q("-"),
                q("-"),
                g.priority.map_or("-".to_owned(), |p| p.to_string()),
                g.time.clone(),
                q("forward"),
                q("-"),
                g.error_reason.as_deref().map_or(q("-"), q),
                q("-"),
                q("-"),
                q("-"),
                q("-"),
                "TID_1".into(),
                q("-"),
                q("-"),
                q("-"),
            ];
            let mut line = all[..g.fields].join(" ");
            for e in &g.extra {
                line.push(' ');
                line.push_str(&q(e));
            }
            line
        }

        proptest! {
            #[test]
            fn generated_entries_parse_back_to_their_values(g in entry()) {
                let line = format_line(&g);
                let e = parse_line(line.as_bytes()).map_err(|err| TestCaseError::fail(format!("{err}: {line}")))?;
                prop_assert_eq!(e.field_count(), g.fields);
                prop_assert!(!e.has_field_warnings());
                prop_assert_eq!(e.rule_priority(), g.priority);
                prop_assert_eq!(e.text(Field::Type).map(|t| t.into_owned()), Some(g.kind.to_owned()));
                prop_assert_eq!(e.time(), g.time.as_str());
                let client = e.client().unwrap();
                prop_assert_eq!((client.ip, client.port), (g.client.0.as_str(), g.client.1));
                prop_assert_eq!(e.target().map(|t| (t.ip.to_owned(), t.port)), g.target.clone());
                let timing = g.timing.as_deref().map_or(-1.0, |t| t.parse().unwrap());
                prop_assert_eq!(e.number(Field::TargetProcessingTime), Some(timing));
                prop_assert_eq!(e.elb_status_code(), Some(g.elb_status));
                prop_assert_eq!(e.target_status_code(), g.target_status);
                let r = e.request().unwrap();
                prop_assert_eq!(crate::alb::escape::unescape(r.verb), g.request.0.as_str());
                prop_assert_eq!(crate::alb::escape::unescape(r.url), g.request.1.as_str());
                prop_assert_eq!(crate::alb::escape::unescape(r.proto), g.request.2.as_str());
                // A lone `-` is how ALB writes "no value", so it reads back as None.
                let user_agent = Some(g.user_agent.as_str()).filter(|ua| *ua != "-");
                let parsed = e.text(Field::UserAgent);
                prop_assert_eq!(parsed.as_deref(), user_agent);
                prop_assert_eq!(e.text(Field::ErrorReason).map(|c| c.into_owned()), g.error_reason.clone());
                let extra: Vec<_> = e.extra().map(|x| crate::alb::escape::unescape(x).into_owned()).collect();
                prop_assert_eq!(extra, g.extra.clone());
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
                if let Ok(e) = parse_line(&bytes) {
                    let _ = crate::alb::json::EntryJson::new(&e);
                }
            }

            #[test]
            fn mutated_lines_never_panic(g in entry(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
                let mut line = format_line(&g).into_bytes();
                let i = at.index(line.len());
                line[i] = byte;
                line.truncate(cut.index(line.len() + 1));
                if let Ok(e) = parse_line(&line) {
                    let _ = serde_json::to_string(&crate::alb::json::EntryJson::new(&e));
                }
            }
        }
    }
}
