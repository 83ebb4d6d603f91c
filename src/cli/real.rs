//! `faultline node`, `faultline cluster` and `faultline real-run`: the
//! commands that run real processes (see `crate::real`).

use std::process::ExitCode;

use super::Failure;
use crate::real::run::RealRunExit;

pub use crate::real::cluster::ClusterArgs;
pub use crate::real::node::NodeArgs;
pub use crate::real::run::RealRunArgs;

pub fn node(args: &NodeArgs) -> Result<ExitCode, Failure> {
    crate::real::node::run(args)
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| Failure {
            code: e.code,
            message: e.message,
        })
}

pub fn cluster(args: &ClusterArgs) -> Result<ExitCode, Failure> {
    use crate::real::cluster::ClusterError;
    crate::real::cluster::run(args)
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| match e {
            ClusterError::Usage(m) => Failure::usage(m),
            ClusterError::Harness(m) => Failure::harness(m),
        })
}

pub fn real_run(args: &RealRunArgs) -> Result<ExitCode, Failure> {
    match crate::real::run::run(args) {
        RealRunExit::Verdict(v) => Ok(ExitCode::from(v.exit_code())),
        RealRunExit::Usage(m) => Err(Failure::usage(m)),
        RealRunExit::Harness(m) => Err(Failure::harness(m)),
    }
}
