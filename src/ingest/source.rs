//! Where log objects come from: the [`ObjectSource`] trait, S3, and an in-memory source.

use std::collections::HashMap;
use std::future::Future;
use std::io::{Cursor, Read};
use std::pin::Pin;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;

use crate::ingest::trigger::ObjectRef;

/// An opened object: a blocking reader over its bytes and what identifies its version.
#[derive(Debug)]
pub struct OpenedObject<B> {
    /// The object's bytes, read on a blocking thread (never on the async runtime).
    pub body: B,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// Version id, on versioned buckets.
    pub version_id: Option<String>,
    /// Size in bytes, when known.
    pub size: Option<u64>,
}

/// Why an object could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The object (or version) does not exist (any more).
    #[error("no such object ({code})")]
    NotFound {
        /// `NoSuchKey`, `NoSuchVersion`, `NoSuchBucket`, `404`…
        code: String,
    },
    /// Any other failure.
    #[error("{message}")]
    Failed {
        /// Error code, when the service gave one.
        code: String,
        /// What happened, with the error chain.
        message: String,
    },
}

/// Opens log objects for streaming.
pub trait ObjectSource: Sync {
    /// The reader type of an opened object.
    type Body: Read + Send + 'static;

    /// Opens `object` (its `version_id`, when set) for reading.
    fn open(
        &self,
        object: &ObjectRef,
    ) -> impl Future<Output = Result<OpenedObject<Self::Body>, SourceError>> + Send;
}

/// Blocking reader over an S3 response body.
pub type S3Body = SyncIoBridge<Pin<Box<dyn AsyncRead + Send>>>;

/// Amazon S3 (`GetObject`, streamed).
#[derive(Debug, Clone)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
}

impl S3Source {
    /// A source using `client`.
    #[must_use]
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }

    /// A source built from shared AWS settings ([`s3_client`]).
    #[must_use]
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        Self::new(s3_client(config))
    }
}

/// An S3 client from shared AWS settings; path-style addressing when `AWS_ENDPOINT_URL` is set
/// (LocalStack and other S3-compatible endpoints need it).
#[must_use]
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL").is_some_and(|v| !v.is_empty());
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

impl ObjectSource for S3Source {
    type Body = S3Body;

    async fn open(&self, object: &ObjectRef) -> Result<OpenedObject<S3Body>, SourceError> {
        let output = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let etag = output.e_tag().map(|t| t.trim_matches('"').to_owned());
        let version_id = output
            .version_id()
            .filter(|v| !v.is_empty() && *v != "null")
            .map(str::to_owned);
        let size = output.content_length().and_then(|n| u64::try_from(n).ok());
        let reader: Pin<Box<dyn AsyncRead + Send>> = Box::pin(output.body.into_async_read());
        Ok(OpenedObject {
            // Captures the current runtime handle; reads happen on the decoder thread.
            body: SyncIoBridge::new(reader),
            etag,
            version_id,
            size,
        })
    }
}

fn classify(error: &SdkError<GetObjectError>) -> SourceError {
    let message = DisplayErrorContext(error).to_string();
    if let SdkError::ServiceError(service) = error {
        let status = service.raw().status().as_u16();
        let code = service.err().code().unwrap_or_default().to_owned();
        let missing = matches!(service.err(), GetObjectError::NoSuchKey(_))
            || matches!(
                code.as_str(),
                "NoSuchKey" | "NoSuchVersion" | "NoSuchBucket"
            )
            || status == 404;
        if missing {
            return SourceError::NotFound {
                code: if code.is_empty() {
                    status.to_string()
                } else {
                    code
                },
            };
        }
        return SourceError::Failed { code, message };
    }
    SourceError::Failed {
        code: String::new(),
        message,
    }
}

/// Objects held in memory (tests and tools).
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    objects: HashMap<(String, String), Vec<u8>>,
}

impl MemorySource {
    /// An empty source.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an object.
    pub fn insert(&mut self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        self.objects
            .insert((bucket.to_owned(), key.to_owned()), bytes.into());
    }
}

impl ObjectSource for MemorySource {
    type Body = Cursor<Vec<u8>>;

    async fn open(&self, object: &ObjectRef) -> Result<OpenedObject<Self::Body>, SourceError> {
        let bytes = self
            .objects
            .get(&(object.bucket.clone(), object.key.clone()))
            .ok_or_else(|| SourceError::NotFound {
                code: "NoSuchKey".into(),
            })?;
        Ok(OpenedObject {
            etag: Some(format!("{:016x}", fnv1a(bytes))),
            version_id: None,
            size: Some(bytes.len() as u64),
            body: Cursor::new(bytes.clone()),
        })
    }
}

/// A stable content hash standing in for an ETag.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
