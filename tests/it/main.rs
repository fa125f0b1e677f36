//! Integration tests: one binary, one module per area.

mod adopt_localstack;
mod alerter_slack;
mod cli_parse;
mod cold_start;
mod conformance;
mod doctor;
mod e2e_localstack;
mod ingest_localstack;
mod ingest_memory;
mod localstack;
mod runtime_api;
mod simulate;
mod simulate_s3;
mod slack_api;
mod slack_bot;
mod sns_localstack;
mod state_dynamodb;
mod template_params;
