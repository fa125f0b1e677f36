//! The alert rule and timings as flags of `simulate` and `consume`: each mirrors its
//! `ALBWATCH_*` environment variable (shown in `--help`); a flag wins over the variable.

use crate::alert::config::{
    ALLOWED_LATENESS_ENV, AlertConfig, AlertConfigError, MIN_5XX_ENV, MIN_ERROR_RATE_ENV,
    REPEAT_INTERVAL_ENV, RESOLVE_AFTER_ENV, STALE_AFTER_ENV, WINDOW_SECONDS_ENV,
};

/// Rule and timing flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Alert rule (each flag overrides its environment variable)")]
pub struct RuleArgs {
    /// Fewest 5xx in one window to fire [default: 10]
    #[arg(long = "min-5xx", value_name = "N", env = MIN_5XX_ENV)]
    pub min_5xx: Option<u64>,
    /// Smallest 5xx ÷ requests in that window to fire, 0–1 [default: 0.05]
    #[arg(long, value_name = "FRACTION", env = MIN_ERROR_RATE_ENV)]
    pub min_error_rate: Option<f64>,
    /// Window length in seconds, a multiple of 60 [default: 60]
    #[arg(long, value_name = "SECONDS", env = WINDOW_SECONDS_ENV)]
    pub window_seconds: Option<u32>,
    /// How long a window accepts late log files, 300–86400 [default: 600]
    #[arg(long, value_name = "SECONDS", env = ALLOWED_LATENESS_ENV)]
    pub allowed_lateness_seconds: Option<u32>,
    /// Announce a still-firing target again after this much event time [default: 3600]
    #[arg(long, value_name = "SECONDS", env = REPEAT_INTERVAL_ENV)]
    pub repeat_interval_seconds: Option<u64>,
    /// Final windows below the rule before "resolved" [default: 5]
    #[arg(long, value_name = "N", env = RESOLVE_AFTER_ENV)]
    pub resolve_after: Option<u32>,
    /// A firing target with no traffic for this long resolves; more than window + lateness
    /// [default: 3600]
    #[arg(long, value_name = "SECONDS", env = STALE_AFTER_ENV)]
    pub stale_after_seconds: Option<u64>,
}

impl RuleArgs {
    /// The environment's configuration with these flags applied, validated.
    pub fn config(&self) -> Result<AlertConfig, AlertConfigError> {
        let mut c = AlertConfig::from_env()?;
        if let Some(v) = self.min_5xx {
            c.min_5xx = v;
        }
        if let Some(v) = self.min_error_rate {
            c.min_error_rate = v;
        }
        if let Some(v) = self.window_seconds {
            c.window_seconds = v;
        }
        if let Some(v) = self.allowed_lateness_seconds {
            c.allowed_lateness_seconds = v;
        }
        if let Some(v) = self.repeat_interval_seconds {
            c.repeat_interval_seconds = v;
        }
        if let Some(v) = self.resolve_after {
            c.resolve_after = v;
        }
        if let Some(v) = self.stale_after_seconds {
            c.stale_after_seconds = v;
        }
        c.validate()?;
        Ok(c)
    }
}
