//! The JSON form of an entry: what `albwatch parse` prints and what `all`-mode records carry.
//!
//! Keys are the AWS field names in snake_case, with `client:port`/`target:port` split into
//! `*_ip`/`*_port` and `request` into `request_verb`/`request_url`/`request_proto`. Quoted
//! fields are shown **unescaped** (`\xHH`, `\"`, `\\` decoded; invalid UTF-8 becomes U+FFFD);
//! `-` is `null`; numbers are JSON numbers (timings keep `-1`); trailing fields AWS may add
//! are in `extra`.

use std::borrow::Cow;

use serde::Serialize;

use crate::alb::{AlbEntry, Field};

/// An entry as a serializable JSON object (see the module docs for the key rules).
#[derive(Debug, Serialize)]
pub struct EntryJson<'a> {
    #[serde(rename = "type")]
    kind: Option<Cow<'a, str>>,
    time: &'a str,
    elb: Cow<'a, str>,
    client_ip: Option<&'a str>,
    client_port: Option<u16>,
    target_ip: Option<&'a str>,
    target_port: Option<u16>,
    request_processing_time: Option<f64>,
    target_processing_time: Option<f64>,
    response_processing_time: Option<f64>,
    elb_status_code: Option<u16>,
    target_status_code: Option<u16>,
    received_bytes: Option<u64>,
    sent_bytes: Option<u64>,
    request_verb: Option<Cow<'a, str>>,
    request_url: Option<Cow<'a, str>>,
    request_proto: Option<Cow<'a, str>>,
    user_agent: Option<Cow<'a, str>>,
    ssl_cipher: Option<Cow<'a, str>>,
    ssl_protocol: Option<Cow<'a, str>>,
    target_group_arn: Option<Cow<'a, str>>,
    trace_id: Option<Cow<'a, str>>,
    domain_name: Option<Cow<'a, str>>,
    chosen_cert_arn: Option<Cow<'a, str>>,
    matched_rule_priority: Option<i32>,
    request_creation_time: Option<Cow<'a, str>>,
    actions_executed: Option<Cow<'a, str>>,
    redirect_url: Option<Cow<'a, str>>,
    error_reason: Option<Cow<'a, str>>,
    target_port_list: Option<Cow<'a, str>>,
    target_status_code_list: Option<Cow<'a, str>>,
    classification: Option<Cow<'a, str>>,
    classification_reason: Option<Cow<'a, str>>,
    conn_trace_id: Option<Cow<'a, str>>,
    transformed_host: Option<Cow<'a, str>>,
    transformed_uri: Option<Cow<'a, str>>,
    request_transform_status: Option<Cow<'a, str>>,
    extra: Vec<Cow<'a, str>>,
}

/// Decodes a raw request part; `-` and empty parts are null.
fn part(raw: &[u8]) -> Option<Cow<'_, str>> {
    (!crate::alb::is_absent(raw)).then(|| crate::alb::escape::unescape(raw))
}

impl<'a> EntryJson<'a> {
    /// Builds the JSON view of an entry (decodes escapes; allocates only where escapes occur).
    pub fn new(e: &AlbEntry<'a>) -> Self {
        let client = e.client();
        let target = e.target();
        let request = e.request();
        Self {
            kind: e.text(Field::Type),
            time: e.time(),
            elb: e.elb(),
            client_ip: client.map(|c| c.ip),
            client_port: client.map(|c| c.port),
            target_ip: target.map(|t| t.ip),
            target_port: target.map(|t| t.port),
            request_processing_time: e.number(Field::RequestProcessingTime),
            target_processing_time: e.number(Field::TargetProcessingTime),
            response_processing_time: e.number(Field::ResponseProcessingTime),
            elb_status_code: e.elb_status_code(),
            target_status_code: e.target_status_code(),
            received_bytes: e.integer(Field::ReceivedBytes),
            sent_bytes: e.integer(Field::SentBytes),
            request_verb: request.and_then(|r| part(r.verb)),
            request_url: request.and_then(|r| part(r.url)),
            request_proto: request.and_then(|r| part(r.proto)),
            user_agent: e.text(Field::UserAgent),
            ssl_cipher: e.text(Field::SslCipher),
            ssl_protocol: e.text(Field::SslProtocol),
            target_group_arn: e.text(Field::TargetGroupArn),
            trace_id: e.text(Field::TraceId),
            domain_name: e.text(Field::DomainName),
            chosen_cert_arn: e.text(Field::ChosenCertArn),
            matched_rule_priority: e.rule_priority(),
            request_creation_time: e.text(Field::RequestCreationTime),
            actions_executed: e.text(Field::ActionsExecuted),
            redirect_url: e.text(Field::RedirectUrl),
            error_reason: e.text(Field::ErrorReason),
            target_port_list: e.text(Field::TargetPortList),
            target_status_code_list: e.text(Field::TargetStatusCodeList),
            classification: e.text(Field::Classification),
            classification_reason: e.text(Field::ClassificationReason),
            conn_trace_id: e.text(Field::ConnTraceId),
            transformed_host: e.text(Field::TransformedHost),
            transformed_uri: e.text(Field::TransformedUri),
            request_transform_status: e.text(Field::RequestTransformStatus),
            extra: e.extra().map(crate::alb::escape::unescape).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::parse_line;

    #[test]
    fn json_uses_nulls_numbers_and_split_fields() {
        let line = br#"h2 2025-06-21T22:45:00.123456Z app/shop/50dc 2001:db8::1:443 - -1 -1 -1 503 - 34 366 "GET https://shop.example.com:443/a%20b?q=\x22x\x22 HTTP/2.0" "Mozilla/5.0 \"quoted\"" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/9 "Root=1-abc" "shop.example.com" "-" 0 2025-06-21T22:45:00.100000Z "forward" "-" "-" "-" "-" "-" "-" - "-" "-" "-" "-" "new""#;
        let e = parse_line(line).unwrap();
        let v: serde_json::Value = serde_json::to_value(EntryJson::new(&e)).unwrap();
        assert_eq!(v["type"], "h2");
        assert_eq!(v["client_ip"], "2001:db8::1");
        assert_eq!(v["client_port"], 443);
        assert!(v["target_ip"].is_null() && v["target_port"].is_null());
        assert_eq!(v["target_processing_time"], -1.0);
        assert_eq!(v["elb_status_code"], 503);
        assert!(v["target_status_code"].is_null());
        assert_eq!(
            v["request_url"],
            "https://shop.example.com:443/a%20b?q=\"x\""
        );
        assert_eq!(v["user_agent"], "Mozilla/5.0 \"quoted\"");
        assert_eq!(v["matched_rule_priority"], 0);
        assert!(v["chosen_cert_arn"].is_null());
        assert_eq!(v["extra"], serde_json::json!(["-", "new"]));
        assert_eq!(v.as_object().unwrap().len(), 38);
    }
}
