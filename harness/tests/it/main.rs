//! The harness's integration tests, in one binary: on 2 cores, linking each file as its own
//! binary took most of the build. Each module below is one area's tests; [`support`] holds
//! what they share (test data builders, service helpers, deadlines).

mod support;

mod backfiller_bench;
mod backfiller_emit;
mod backfiller_faults;
mod backfiller_group;
mod backfiller_network;
mod e2e_pipeline;
mod faults_http;
mod faults_repo;
mod faults_stream;
mod indexer_apply;
mod indexer_cli;
mod indexer_handler;
mod indexer_oracle;
mod indexer_realpds;
mod indexer_schema_check;
mod indexer_schema_parity;
mod ingester_backfill;
mod ingester_bench;
mod ingester_firehose;
mod ingester_labels;
mod ingester_process;
mod mock_conformance;
mod mock_identity;
mod mock_pds;
mod mock_relay;
mod network_generate;
mod network_mock_state;
mod network_realpds_shapes;
mod network_script;
mod oracle_manifest;
mod services_child;
mod services_postgres;
mod services_redis;
mod services_sweep;
mod streams_consumer;
mod streams_dead_letters;
mod streams_producer;
mod streams_trim;
mod verify_cli;
