//! The quick start's web system on AWS: a VPC (with an internet gateway), a subnet, a
//! security group, a database, app servers and a load balancer with an Elastic IP, from the
//! same provider-neutral models as `cargo run --example quickstart`. It plans, initiates,
//! reports and tears down, printing what it does.
//!
//! ```sh
//! # Against moto (the CI does this): the configuration phase is skipped, because the
//! # addresses moto hands out must never be dialled.
//! export HOIST_TEST_MOTO_URL="$(scripts/moto up /tmp/moto)"
//! AWS_ENDPOINT_URL="$HOIST_TEST_MOTO_URL" cargo run -p hoist-cloud-examples --example aws_web
//!
//! # Against moto, configuring a test bed of sshd hosts in place of the instances (each
//! # instance is reached at a test-bed host through an explicit address override):
//! scripts/testbed up 4 /tmp/tb
//! AWS_ENDPOINT_URL="$HOIST_TEST_MOTO_URL" HOIST_TESTBED=/tmp/tb cargo run -p hoist-cloud-examples --example aws_web
//!
//! # Against AWS itself (credentials and region from the standard chain; it creates real,
//! # billed instances, and removes them again):
//! HOIST_AWS_IMAGE=ami-0123456789abcdef0 cargo run -p hoist-cloud-examples --example aws_web
//! ```
//!
//! The state is kept in `.hoist/state.db` in the current directory (or where `HOIST_STATE`
//! says). If the example dies half-way, run it again (it adopts what the dead run made and
//! goes on), or tear everything down from the state alone, with the same AWS environment:
//!
//! ```sh
//! AWS_ENDPOINT_URL="$HOIST_TEST_MOTO_URL" AWS_REGION=us-east-1 \
//!   AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing cargo run -p hoist-cli -- down --yes
//! ```

#[tokio::main]
async fn main() -> Result<(), hoist_cloud_examples::Error> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let opts = hoist_cloud_examples::AwsWebOptions::from_env()?;
    let summary = hoist_cloud_examples::aws_web(&opts, &mut std::io::stdout()).await?;
    if !summary.success() {
        return Err("the run did not succeed (see above)".into());
    }
    Ok(())
}
