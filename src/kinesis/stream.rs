//! The stream being read: how it was named, and the stream-level calls.

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types::Shard;

use super::errors::error_text;

/// Why reading a stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A stream-level call failed and retrying cannot help.
    #[error("stream {stream}: {operation} failed: {message}")]
    Stream {
        /// The stream as given.
        stream: String,
        /// The API call.
        operation: &'static str,
        /// The error chain.
        message: String,
    },
    /// A shard-level call failed permanently, or too many times in a row.
    #[error("shard {shard}: {operation} failed: {message}")]
    Shard {
        /// The shard id.
        shard: String,
        /// The API call.
        operation: &'static str,
        /// The error chain.
        message: String,
    },
}

/// The stream as given: a name or an ARN.
#[derive(Debug, Clone)]
pub struct StreamRef {
    /// What the user gave.
    pub given: String,
}

impl StreamRef {
    /// The name, when a name was given.
    #[must_use]
    pub fn name(&self) -> Option<String> {
        (!self.given.starts_with("arn:")).then(|| self.given.clone())
    }

    /// The ARN, when an ARN was given.
    #[must_use]
    pub fn arn(&self) -> Option<String> {
        self.given.starts_with("arn:").then(|| self.given.clone())
    }
}

/// The Kinesis client with what every call needs.
#[derive(Debug)]
pub struct StreamClient {
    /// The SDK client.
    pub client: aws_sdk_kinesis::Client,
    /// The stream read.
    pub stream: StreamRef,
    /// The stream's ARN (for `eventSourceARN`), from `DescribeStreamSummary`.
    pub arn: Option<String>,
    /// The client's region (for `awsRegion`).
    pub region: Option<String>,
}

impl StreamClient {
    /// A client for `stream`; [`describe`](Self::describe) checks it and learns its ARN.
    #[must_use]
    pub fn new(client: aws_sdk_kinesis::Client, stream: &str, region: Option<String>) -> Self {
        Self {
            client,
            stream: StreamRef {
                given: stream.to_owned(),
            },
            arn: None,
            region,
        }
    }

    fn stream_error<E>(&self, operation: &'static str, e: &SdkError<E>) -> ReadError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        ReadError::Stream {
            stream: self.stream.given.clone(),
            operation,
            message: error_text(e),
        }
    }

    /// Checks that the stream exists and learns its ARN.
    ///
    /// # Errors
    /// The stream cannot be described (missing, access denied, …).
    pub async fn describe(&mut self) -> Result<(), ReadError> {
        let out = self
            .client
            .describe_stream_summary()
            .set_stream_name(self.stream.name())
            .set_stream_arn(self.stream.arn())
            .send()
            .await
            .map_err(|e| self.stream_error("DescribeStreamSummary", &e))?;
        self.arn = out
            .stream_description_summary()
            .map(|s| s.stream_arn().to_owned());
        Ok(())
    }

    /// Every shard of the stream, open or closed (still within the retention period).
    ///
    /// # Errors
    /// A `ListShards` call failed.
    pub async fn list_shards(&self) -> Result<Vec<Shard>, ReadError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = match token.take() {
                // With a token, the stream must not be named again.
                Some(t) => self.client.list_shards().next_token(t),
                None => self
                    .client
                    .list_shards()
                    .set_stream_name(self.stream.name())
                    .set_stream_arn(self.stream.arn()),
            };
            let out = request
                .send()
                .await
                .map_err(|e| self.stream_error("ListShards", &e))?;
            shards.extend(out.shards.unwrap_or_default());
            match out.next_token {
                Some(t) => token = Some(t),
                None => return Ok(shards),
            }
        }
    }
}
