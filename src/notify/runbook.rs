//! `ALBWATCH_RUNBOOK_URL`: a link to the team's runbook in every ALB notification, with the
//! notification's own values filled in.
//!
//! Placeholders: `{load_balancer}`, `{target}`, `{target_group}`, `{status}`. The template is
//! configuration (trusted); the values come from log lines, so each is percent-encoded (every
//! byte but ASCII letters, digits and `-._~`), and the result can go into a Slack link.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::notification::{Notification, Status};

/// `ALBWATCH_RUNBOOK_URL`: the runbook link template (optional).
pub const RUNBOOK_URL_ENV: &str = "ALBWATCH_RUNBOOK_URL";

/// Longest template accepted.
pub const MAX_TEMPLATE_BYTES: usize = 1024;

/// What is encoded in a filled-in value: everything but RFC 3986's unreserved characters.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A validated runbook URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookTemplate(String);

impl RunbookTemplate {
    /// Accepts an `https://` (or `http://`) URL of printable ASCII without spaces, quotes or
    /// angle brackets, at most [`MAX_TEMPLATE_BYTES`]; the reason otherwise.
    pub fn parse(template: &str) -> Result<Self, String> {
        let t = template.trim();
        if !(t.starts_with("https://") || t.starts_with("http://")) {
            return Err("must start with https:// or http://".to_owned());
        }
        if t.len() > MAX_TEMPLATE_BYTES {
            return Err(format!("is longer than {MAX_TEMPLATE_BYTES} bytes"));
        }
        if let Some(c) = t
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '<' | '>' | '|' | '"' | '`'))
        {
            return Err(format!("contains {c:?}, which cannot go into a Slack link"));
        }
        Ok(Self(t.to_owned()))
    }

    /// The link for `n`.
    #[must_use]
    pub fn fill(&self, n: &Notification) -> String {
        let enc = |s: &str| utf8_percent_encode(s, VALUE).to_string();
        let status = match n.status {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        };
        self.0
            .replace("{load_balancer}", &enc(&n.load_balancer))
            .replace(
                "{target_group}",
                &enc(n.target_group.as_deref().unwrap_or("")),
            )
            .replace("{target}", &enc(&n.target))
            .replace("{status}", status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notification::tests::sample_notification;

    #[test]
    fn fills_in_encoded_values() {
        let t = RunbookTemplate::parse(
            "https://wiki.example.com/alb?lb={load_balancer}&t={target}&tg={target_group}&s={status}",
        )
        .expect("valid");
        let mut n = sample_notification("app/shop/1", "10.0.1.11:8080");
        n.target = "<!channel>|x y".to_owned();
        let url = t.fill(&n);
        assert_eq!(
            url,
            "https://wiki.example.com/alb?lb=app%2Fshop%2F1&t=%3C%21channel%3E%7Cx%20y&tg=targetgroup%2Fshop-web%2F73e2d6bc24d8a067&s=firing"
        );
        assert!(!url.contains(['<', '>', '|', ' ']));
    }

    #[test]
    fn refuses_what_cannot_be_a_link() {
        for bad in [
            "wiki/runbook",
            "javascript:alert(1)",
            "https://x/<y>",
            "https://x/a|b",
            "https://x/a b",
        ] {
            assert!(RunbookTemplate::parse(bad).is_err(), "{bad}");
        }
        assert!(RunbookTemplate::parse(&format!("https://x/{}", "a".repeat(2000))).is_err());
    }
}
