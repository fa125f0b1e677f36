//! Synthetic but realistic ALB traffic, for benchmarks and trying albwatch out
//! (`albwatch gen`). Lines are written in the documented field order ([`Field::ALL`]), quoted
//! where ALB quotes ([`Field::is_quoted`]) and escaped as ALB escapes ([`escape_alb`]), so they
//! parse back as what was generated. The same seed always gives the same lines.
//!
//! The mix: ~55 % `h2`, ~41 % `https`, ~4 % `http` (a port-80 listener redirecting to HTTPS);
//! API, search, category, cart, checkout, static and image requests; browser, app, bot and
//! tool user agents; a slow tail of target times; `error_rate` of the lines are load-balancer
//! 5xx (500 from the target, 502 reset, 504 timeout, 503 without a healthy target), plus 404s,
//! WAF 403s and 304s.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::escape::escape_alb;
use super::field::{FIELD_COUNT, Field};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
/// The generated load balancer.
pub const ELB: &str = "app/shop-prod/50dc6c495c0c9188";
const DOMAIN: &str = "shop.example.com";
const POOL: usize = 4096;

/// User agents as a shop sees them, with relative weights.
const USER_AGENTS: &[(&str, u32)] = &[
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
        14,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
        7,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
        13,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.7151.61 Mobile Safari/537.36",
        7,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:139.0) Gecko/20100101 Firefox/139.0",
        2,
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        2,
    ),
    ("ShopApp/5.12.1 (iPhone; iOS 18.5; Scale/3.00)", 14),
    ("ShopApp/5.12.0 (Android 14; Pixel 7)", 10),
    ("okhttp/4.12.0", 3),
    ("curl/8.5.0", 1),
    ("python-requests/2.32.3", 1),
    (
        "Mozilla/5.0 (compatible; \"PriceWatch\" crawler/1.3; +https://pricewatch.example/bot)",
        1,
    ),
    ("caf\u{e9}-client/1.0", 1),
    ("-", 1),
];
/// (cipher, protocol, weight) as ALB logs them.
const TLS: &[(&str, &str, u32)] = &[
    ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 58),
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", 34),
    ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 5),
    ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2", 2),
    ("TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3", 1),
];
const SEARCH_TERMS: &[&str] = &[
    "running+shoes",
    "rain%20jacket",
    "wool+socks",
    "caf%C3%A9+mug",
    "usb-c+cable",
    "gift+card",
    "yoga+mat",
    "sale",
];
const CATEGORIES: &[&str] = &[
    "shoes",
    "outerwear",
    "accessories",
    "kitchen",
    "kids",
    "sale",
];
const UTM: &[&str] = &[
    "",
    "",
    "",
    "&utm_source=newsletter&utm_medium=email&utm_campaign=summer25",
    "&gclid=Cj0KCQjw3ZayBhDRARIsAPWzx8p",
];
const DOC_NETS: &[&str] = &["192.0.2", "198.51.100", "203.0.113"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Seed of the random generator.
    pub seed: u64,
    /// Targets `10.0.1.10:8080`, `10.0.1.11:8080`, …
    pub targets: usize,
    /// Fraction of load-balancer 5xx lines.
    pub error_rate: f64,
    /// Time of the first line.
    pub start: DateTime<Utc>,
    /// Mean requests per second (sets the time the lines span).
    pub rps: f64,
    /// Fields per line: 25 (the oldest layout) to 33.
    pub fields: usize,
}

/// One request shape: method, path and query, rule priority, static asset.
struct RequestShape {
    method: &'static str,
    path: String,
    rule: &'static str,
    is_static: bool,
}

/// An endless, deterministic stream of log lines.
pub struct Synth {
    rng: fastrand::Rng,
    config: SynthConfig,
    t_us: i64,
    step_us: f64,
    counter: u64,
    targets: Vec<String>,
    clients: Vec<String>,
    user_agents: Vec<String>,
    tls: Vec<(&'static str, &'static str)>,
    requests: Vec<RequestShape>,
    target_times: Vec<f64>,
}

impl Synth {
    /// A generator for `config` (`fields` is clamped to 25..=33).
    #[must_use]
    pub fn new(mut config: SynthConfig) -> Self {
        config.fields = config
            .fields
            .clamp(super::field::MIN_FIELD_COUNT, FIELD_COUNT);
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let targets = (0..config.targets.max(1))
            .map(|i| format!("10.0.{}.{}:8080", 1 + i / 200, 10 + i % 200))
            .collect();
        let clients = (0..POOL)
            .map(|_| {
                let ip = if rng.f64() > 0.06 {
                    format!(
                        "{}.{}",
                        DOC_NETS[rng.usize(..DOC_NETS.len())],
                        rng.u8(1..=254)
                    )
                } else {
                    format!("2001:db8:{:x}::{:x}", rng.u16(..), rng.u16(1..))
                };
                format!("{ip}:{}", rng.u16(1024..))
            })
            .collect();
        let user_agents = (0..POOL)
            .map(|_| escape_alb(weighted(&mut rng, USER_AGENTS, |&(_, w)| w).0))
            .collect();
        let tls = (0..POOL)
            .map(|_| {
                let &(cipher, protocol, _) = weighted(&mut rng, TLS, |&(_, _, w)| w);
                (cipher, protocol)
            })
            .collect();
        let requests = (0..POOL).map(|_| request_shape(&mut rng)).collect();
        // Mostly fast API calls, a slow tail (log-normal around 45 ms, at most 29 s).
        let target_times = (0..POOL)
            .map(|_| (0.045f64.ln() + 0.9 * gauss(&mut rng)).exp().min(29.0))
            .collect();
        Self {
            t_us: config.start.timestamp_micros(),
            step_us: 1e6 / config.rps.max(0.001),
            rng,
            config,
            counter: 0,
            targets,
            clients,
            user_agents,
            tls,
            requests,
            target_times,
        }
    }

    /// Appends the next line (without its newline) to `out`.
    pub fn next_line(&mut self, out: &mut String) {
        self.counter += 1;
        let rng = &mut self.rng;
        self.t_us += (self.step_us * (0.2 + 1.6 * rng.f64())) as i64;
        let t = self.t_us;
        let (i, j, k) = (rng.usize(..POOL), rng.usize(..POOL), rng.usize(..POOL));
        let shape = &self.requests[j];
        let kind = match rng.f64() {
            x if x < 0.55 => "h2",
            x if x < 0.96 => "https",
            _ => "http",
        };
        let target_time = self.target_times[(i + j) % POOL];
        let mut created = t - (target_time * 1e6) as i64 - 1000;
        let mut path = shape.path.clone();
        let (mut class, mut class_reason) = ("-", "-");
        if self.counter % 1024 == 7 {
            // An unencoded space in the URI, logged as sent.
            (class, class_reason) = ("Acceptable", "SpaceInUri");
            path.push_str(if path.contains('?') { "&" } else { "?" });
            path.push_str("ref=summer sale");
        }
        let mut f: [String; FIELD_COUNT] = std::array::from_fn(|_| String::new());
        let set = |f: &mut [String; FIELD_COUNT], field: Field, value: String| {
            f[field as usize] = value;
        };
        set(&mut f, Field::Type, kind.to_owned());
        set(&mut f, Field::Time, alb_time(t));
        set(&mut f, Field::Elb, ELB.to_owned());
        set(&mut f, Field::Client, self.clients[i].clone());
        set(&mut f, Field::UserAgent, self.user_agents[k].clone());
        set(
            &mut f,
            Field::TraceId,
            format!("Root=1-{:08x}-{:024x}", created / 1_000_000, self.counter),
        );
        set(
            &mut f,
            Field::ConnTraceId,
            format!("TID_{:016x}", rng.u64(..)),
        );
        let (status, target_status, target, timings, sent, actions, rule);
        if kind == "http" {
            // The port-80 listener's default action redirects to HTTPS.
            set(
                &mut f,
                Field::Request,
                escape_alb(&format!(
                    "{} http://{DOMAIN}:80{path} HTTP/1.1",
                    shape.method
                )),
            );
            set(
                &mut f,
                Field::RedirectUrl,
                escape_alb(&format!("https://{DOMAIN}:443{path}")),
            );
            (status, target_status, target) = ("301", "-", "-".to_owned());
            timings = ["-1".to_owned(), "-1".to_owned(), "-1".to_owned()];
            (sent, actions, rule) = (190, "redirect", "0");
            created = t - 500;
        } else {
            let version = if kind == "h2" { "HTTP/2.0" } else { "HTTP/1.1" };
            set(
                &mut f,
                Field::Request,
                escape_alb(&format!(
                    "{} https://{DOMAIN}:443{path} {version}",
                    shape.method
                )),
            );
            let (cipher, protocol) = self.tls[i];
            set(&mut f, Field::SslCipher, cipher.to_owned());
            set(&mut f, Field::SslProtocol, protocol.to_owned());
            set(&mut f, Field::DomainName, DOMAIN.to_owned());
            set(
                &mut f,
                Field::ChosenCertArn,
                format!(
                    "arn:aws:acm:{REGION}:{ACCOUNT}:certificate/3f9c0b1e-7a2d-4c55-9e1a-2b8d6f4c0a17"
                ),
            );
            let mut tgt = self.targets[(i + self.counter as usize) % self.targets.len()].clone();
            let ok_times = [
                if j % 25 == 0 { "0.002" } else { "0.001" }.to_owned(),
                format!("{target_time:.3}"),
                "0.000".to_owned(),
            ];
            let failed_times = ["-1".to_owned(), "-1".to_owned(), "-1".to_owned()];
            let err = self.config.error_rate;
            let y = rng.f64();
            let (code, tcode, times, bytes) = if y < err {
                match rng.f64() {
                    z if z < 0.45 => ("500", "500", ok_times, 412),
                    z if z < 0.75 => (
                        "502",
                        "-",
                        [ok_times[0].clone(), "-1".to_owned(), "-1".to_owned()],
                        277,
                    ),
                    z if z < 0.90 => {
                        created = t - 60_000_000;
                        ("504", "-", failed_times, 303)
                    }
                    _ => {
                        tgt = "-".to_owned();
                        ("503", "-", failed_times, 345)
                    }
                }
            } else if y < err + 0.025 {
                ("404", "404", ok_times, 520)
            } else if y < err + 0.030 {
                tgt = "-".to_owned();
                ("403", "-", failed_times, 255)
            } else if y < err + 0.080 && shape.is_static {
                ("304", "304", ok_times, 246)
            } else if shape.method == "POST" {
                ("201", "201", ok_times, rng.u32(300..24_000))
            } else if shape.is_static {
                ("200", "200", ok_times, rng.u32(20_000..310_000))
            } else {
                ("200", "200", ok_times, rng.u32(300..24_000))
            };
            (status, target_status, timings, sent) = (code, tcode, times, bytes);
            set(
                &mut f,
                Field::TargetGroupArn,
                format!(
                    "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/shop-web/943f017f100becff"
                ),
            );
            if tgt == "-" {
                actions = if status == "403" {
                    "waf"
                } else {
                    "waf,forward"
                };
                rule = if status == "403" { "-" } else { shape.rule };
            } else {
                actions = "waf,forward";
                rule = shape.rule;
                set(&mut f, Field::TargetPortList, tgt.clone());
                set(
                    &mut f,
                    Field::TargetStatusCodeList,
                    target_status.to_owned(),
                );
            }
            target = tgt;
        }
        set(&mut f, Field::Target, target);
        let [request_time, target_time, response_time] = timings;
        set(&mut f, Field::RequestProcessingTime, request_time);
        set(&mut f, Field::TargetProcessingTime, target_time);
        set(&mut f, Field::ResponseProcessingTime, response_time);
        set(&mut f, Field::ElbStatusCode, status.to_owned());
        set(&mut f, Field::TargetStatusCode, target_status.to_owned());
        set(&mut f, Field::ReceivedBytes, rng.u32(180..1400).to_string());
        set(&mut f, Field::SentBytes, sent.to_string());
        set(&mut f, Field::MatchedRulePriority, rule.to_owned());
        set(&mut f, Field::RequestCreationTime, alb_time(created));
        set(&mut f, Field::ActionsExecuted, actions.to_owned());
        set(&mut f, Field::Classification, class.to_owned());
        set(&mut f, Field::ClassificationReason, class_reason.to_owned());
        for (n, field) in Field::ALL.iter().take(self.config.fields).enumerate() {
            if n > 0 {
                out.push(' ');
            }
            let value = &f[*field as usize];
            let value = if value.is_empty() { "-" } else { value };
            if field.is_quoted() {
                let _ = write!(out, "\"{value}\"");
            } else {
                out.push_str(value);
            }
        }
    }
}

/// A request shape drawn from the shop's mix.
fn request_shape(rng: &mut fastrand::Rng) -> RequestShape {
    let product = rng.u32(10_000..100_000);
    let pick = |rng: &mut fastrand::Rng, items: &[&'static str]| items[rng.usize(..items.len())];
    let (method, path, rule, is_static) = match rng.f64() {
        x if x < 0.30 => ("GET", format!("/api/v1/products/{product}"), "10", false),
        x if x < 0.45 => (
            "GET",
            format!(
                "/api/v1/search?q={}&page={}&limit=24{}",
                pick(rng, SEARCH_TERMS),
                rng.u8(1..=5),
                pick(rng, UTM)
            ),
            "10",
            false,
        ),
        x if x < 0.55 => (
            "GET",
            format!(
                "/c/{}?page={}{}",
                pick(rng, CATEGORIES),
                rng.u8(1..=9),
                pick(rng, UTM)
            ),
            "0",
            false,
        ),
        x if x < 0.65 => ("POST", "/api/v1/cart/items".to_owned(), "10", false),
        x if x < 0.69 => ("POST", "/api/v1/checkout/session".to_owned(), "10", false),
        x if x < 0.80 => (
            "GET",
            format!("/static/js/app.{:08x}.js", rng.u32(..)),
            "20",
            true,
        ),
        x if x < 0.92 => (
            "GET",
            format!(
                "/images/products/{product}/{}w.webp",
                pick(rng, &["320", "640", "1280"])
            ),
            "20",
            true,
        ),
        x if x < 0.97 => ("GET", "/".to_owned(), "0", false),
        _ => (
            pick(rng, &["OPTIONS", "HEAD"]),
            format!("/api/v1/products/{product}"),
            "10",
            false,
        ),
    };
    RequestShape {
        method,
        path,
        rule,
        is_static,
    }
}

/// An item of `items`, drawn with the weights `weight` gives.
fn weighted<'a, T>(rng: &mut fastrand::Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut pick = rng.u32(..total.max(1));
    for item in items {
        let w = weight(item);
        if pick < w {
            return item;
        }
        pick -= w;
    }
    &items[items.len() - 1]
}

/// A standard normal draw (Box–Muller).
fn gauss(rng: &mut fastrand::Rng) -> f64 {
    let u = rng.f64().max(f64::MIN_POSITIVE);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.f64()).cos()
}

/// ALB's `time` form, microseconds and `Z`.
fn alb_time(us: i64) -> String {
    crate::alb::time::micros_to_datetime(us)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::parse_line;

    fn config(fields: usize, error_rate: f64) -> SynthConfig {
        SynthConfig {
            seed: 7,
            targets: 3,
            error_rate,
            start: DateTime::parse_from_rfc3339("2025-06-21T22:30:00Z")
                .expect("time")
                .with_timezone(&Utc),
            rps: 200.0,
            fields,
        }
    }

    #[test]
    fn lines_parse_without_warnings_in_every_layout() {
        for fields in super::super::field::MIN_FIELD_COUNT..=FIELD_COUNT {
            let mut synth = Synth::new(config(fields, 0.05));
            let mut line = String::new();
            let mut errors = 0;
            for _ in 0..3000 {
                line.clear();
                synth.next_line(&mut line);
                let entry = parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert_eq!(entry.field_count(), fields);
                assert!(!entry.has_field_warnings(), "{line}");
                errors += u32::from(entry.elb_status_code().is_some_and(|c| c >= 500));
            }
            assert!(
                (60..=240).contains(&errors),
                "{fields} fields: {errors} 5xx of 3000"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_lines() {
        let lines = |seed| {
            let mut c = config(FIELD_COUNT, 0.01);
            c.seed = seed;
            let mut synth = Synth::new(c);
            let mut out = String::new();
            for _ in 0..50 {
                synth.next_line(&mut out);
                out.push('\n');
            }
            out
        };
        assert_eq!(lines(1), lines(1));
        assert_ne!(lines(1), lines(2));
    }
}
