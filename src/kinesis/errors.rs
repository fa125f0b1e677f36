//! Which failed Kinesis calls are worth retrying: one classification for every caller (the
//! ingest's `PutRecords`, the shard reader). The SDK's own retries are off wherever albwatch
//! retries (the ingest's `KinesisSink::from_conf` turns them off), so this covers
//! what its standard classifier would: throttling and transient codes, 5xx and 429 answers,
//! timeouts, connection errors and unreadable responses.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

/// Kinesis error codes worth retrying after a pause, besides the SDK's throttling and transient
/// lists.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "KMSThrottlingException",
    "InternalFailure",
    "InternalFailureException",
    "ServiceUnavailable",
];

/// How a failed Kinesis call is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The shard iterator expired: get a new one from the last record read.
    Expired,
    /// Throttling, 5xx, timeouts, connection errors: try again after a pause.
    Retryable,
    /// Anything else (missing stream, access denied, bad argument, a request the client cannot
    /// build or send).
    Permanent,
}

impl Failure {
    /// Whether another attempt may succeed.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        self != Self::Permanent
    }
}

/// Classifies a failed call.
pub fn classify<E: ProvideErrorMetadata>(error: &SdkError<E>) -> Failure {
    match error {
        SdkError::ServiceError(service) => {
            classify_service(service.err().code(), service.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::Retryable,
        // A request the client cannot even send (bad endpoint, …) fails the same way again.
        SdkError::DispatchFailure(failure) if failure.is_user() => Failure::Permanent,
        SdkError::DispatchFailure(_) => Failure::Retryable,
        SdkError::ConstructionFailure(_) => Failure::Permanent,
        _ => Failure::Retryable,
    }
}

/// [`classify`] for an answer of the service: its error code and HTTP status.
#[must_use]
pub fn classify_service(code: Option<&str>, status: u16) -> Failure {
    let code = code.unwrap_or_default();
    if code == "ExpiredIteratorException" {
        Failure::Expired
    } else if RETRYABLE_CODES.contains(&code)
        || THROTTLING_ERRORS.contains(&code)
        || TRANSIENT_ERRORS.contains(&code)
        || code.contains("Throttl")
        || status >= 500
        || status == 429
    {
        Failure::Retryable
    } else {
        Failure::Permanent
    }
}

/// A short name for what failed: the service's error code, or the kind of client failure.
pub fn error_code<E: ProvideErrorMetadata>(error: &SdkError<E>) -> String {
    match error {
        SdkError::ServiceError(service) => service.err().code().unwrap_or("service").to_owned(),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch".to_owned(),
        SdkError::ResponseError(_) => "response".to_owned(),
        SdkError::ConstructionFailure(_) => "construction".to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// A short description of a failed call, on one line: `Code: message` for service errors;
/// otherwise the error and its causes joined by `: `, after the HTTP status when there was an
/// answer (never the SDK's `Debug` form).
pub fn error_text<E>(error: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            if let Some(code) = err.code() {
                return match err.message() {
                    Some(message) => format!("{code}: {message}"),
                    None => code.to_owned(),
                };
            }
            Some(service.raw().status().as_u16())
        }
        SdkError::ResponseError(response) => Some(response.raw().status().as_u16()),
        _ => None,
    };
    let chain = crate::text::error_chain(error);
    match status {
        Some(status) => format!("HTTP {status}: {chain}"),
        None => chain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connect failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn client_failures_read_as_one_line_of_causes() {
        let error: SdkError<aws_sdk_kinesis::operation::list_shards::ListShardsError> =
            SdkError::timeout_error(Outer(std::io::Error::other("connection refused")));
        let text = error_text(&error);
        assert_eq!(
            text,
            "request has timed out: connect failed: connection refused"
        );
        assert!(!text.contains('\n') && !text.contains("Outer("), "{text}");
        let listed = std::io::Error::other("none found. Attempted:\n  A: off\n  B: off\n");
        assert_eq!(
            crate::text::error_chain(&listed),
            "none found. Attempted: A: off; B: off"
        );
    }

    #[test]
    fn failed_calls_are_classified() {
        assert_eq!(
            classify_service(Some("ExpiredIteratorException"), 400),
            Failure::Expired
        );
        for code in [
            "ProvisionedThroughputExceededException",
            "KMSThrottlingException",
            "ThrottlingException",
            "RequestTimeout",
        ] {
            assert_eq!(
                classify_service(Some(code), 400),
                Failure::Retryable,
                "{code}"
            );
        }
        assert_eq!(classify_service(None, 503), Failure::Retryable);
        assert_eq!(classify_service(Some("Whatever"), 429), Failure::Retryable);
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "InvalidArgumentException",
        ] {
            assert_eq!(
                classify_service(Some(code), 400),
                Failure::Permanent,
                "{code}"
            );
        }
    }
}
