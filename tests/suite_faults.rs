//! The fault suite: each nemesis family against the workloads, over fixed
//! seeds, on the correct Raft. Every run must be judged valid by all the
//! verdicts `faultline run` gives (linearizability, the workload's own
//! checker, Raft invariants after every step, agreement, liveness after the
//! heal). A failure prints the seed, the explanation and the repro command.

mod suite_support;

use faultline_workloads::Workload;
use suite_support::assert_valid;

/// Two fixed seeds per family on the register; one per extra workload.
const SEEDS: &[u64] = &[1, 2];
const SEED: &[u64] = &[3];

macro_rules! suite {
    ($($name:ident: $workload:expr, $nemesis:literal, $seeds:expr;)*) => {
        $(
            #[test]
            fn $name() {
                assert_valid($workload, $nemesis, $seeds);
            }
        )*
    };
}

suite! {
    partition_register: Workload::Register, "partition", SEEDS;
    crash_register: Workload::Register, "crash", SEEDS;
    pause_register: Workload::Register, "pause", SEEDS;
    clock_register: Workload::Register, "clock", SEEDS;
    disk_register: Workload::Register, "disk", SEEDS;
    membership_register: Workload::Register, "membership", SEEDS;
    all_register: Workload::Register, "all", SEEDS;

    all_kv: Workload::Kv, "all", SEED;
    all_list_append: Workload::ListAppend, "all", SEED;
    all_set: Workload::Set, "all", SEED;
    all_bank: Workload::Bank, "all", SEED;
    all_counter: Workload::Counter, "all", SEED;

    partition_bank: Workload::Bank, "partition", SEED;
    crash_list_append: Workload::ListAppend, "crash", SEED;
    disk_kv: Workload::Kv, "disk", SEED;
    membership_set: Workload::Set, "membership", SEED;
    clock_counter: Workload::Counter, "clock", SEED;
}
