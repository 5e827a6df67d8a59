//! Partitions for cluster builds (`--partition I/N`): which cases partition `I` of `N` builds, and how `I` and
//! `N` are read from a job array's environment (Slurm, Kubernetes Indexed Jobs, AWS Batch).
//!
//! Indices are 0-based (`0/3`, `1/3`, `2/3`), as Kubernetes' `JOB_COMPLETION_INDEX` and AWS Batch's
//! `AWS_BATCH_JOB_ARRAY_INDEX` are. A case goes to partition
//! `⌊xxh3_64("medvision-build partition\0" + group) · N / 2^64⌋`, where `group` is the case's patient group
//! (the manifest's `split.group` regex applied to the case id, as the split does; the case id without one):
//! cases of one patient always land in the same partition, and a case's partition depends only on its own id
//! and `N`. The hash key differs from the split's, so partitions do not correlate with train/test.

use std::fmt;
use std::str::FromStr;

use regex::Regex;

use super::plan::BuildPlan;
use super::split::{group_key, SplitError};

/// Partition `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// 0-based index, `< count`.
    pub index: usize,
    /// Number of partitions, at least 1.
    pub count: usize,
}

/// A partition that could not be determined from the flags or the environment (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error(
        "--partition `{0}`: expected I/N with 0 <= I < N (0-based, e.g. 0/3, 1/3, 2/3), `auto` or `none`"
    )]
    /// `--partition` is not `I/N`, `auto` or `none`.
    Syntax(String),
    #[error(
        "{what}: partition {index} of {count}: the index is 0-based and must be below {count}"
    )]
    /// The index is not below the count (or the count is 0).
    OutOfRange {
        /// Where index and count came from (`--partition 3/3`, `JOB_COMPLETION_INDEX=8, --partition-count 8`).
        what: String,
        /// The index given.
        index: usize,
        /// The count given.
        count: usize,
    },
    #[error(
        "{what}: {count} partitions are more than the {MAX_PARTITIONS} a build can be split into"
    )]
    /// More partitions than part folder names have digits for.
    TooMany {
        /// Where the count came from.
        what: String,
        /// The count given.
        count: usize,
    },
    #[error(
        "{first} but {second}: unset one of them, or pass --partition I/N or --partition none"
    )]
    /// Two job-array environments name different partitions.
    Conflict {
        /// One source and the partition it gives.
        first: String,
        /// The other.
        second: String,
    },
    #[error("{var}=`{value}` is not a non-negative integer")]
    /// An environment variable does not hold a number.
    NotANumber {
        /// Variable name.
        var: &'static str,
        /// Its value.
        value: String,
    },
    #[error("{what} gives {from_env} partitions but --partition-count is {flag}")]
    /// The count flag disagrees with the count the environment or `--partition` gives.
    CountMismatch {
        /// Where the other count came from.
        what: String,
        /// That count.
        from_env: usize,
        /// `--partition-count`.
        flag: usize,
    },
    #[error(
        "SLURM_ARRAY_TASK_ID={id} is set but SLURM_ARRAY_TASK_COUNT is not: pass --partition-count N"
    )]
    /// A Slurm array task without a task count (and no count flag).
    SlurmNoCount {
        /// `SLURM_ARRAY_TASK_ID`.
        id: usize,
    },
    #[error(
        "the Slurm array is not the one evenly spaced range of ids this build needs (SLURM_ARRAY_TASK_ID={id}, \
         _MIN={min}, _MAX={max}, _STEP={step}, _COUNT={count}): submit all N partitions as one array \
         (--array=0-{{N-1}}), or rerun single partitions with --partition I/N"
    )]
    /// The array ids are not `min, min+step, …` with exactly `count` members.
    SlurmIrregular {
        /// `SLURM_ARRAY_TASK_ID`.
        id: usize,
        /// `SLURM_ARRAY_TASK_MIN`.
        min: usize,
        /// `SLURM_ARRAY_TASK_MAX`.
        max: usize,
        /// `SLURM_ARRAY_TASK_STEP`.
        step: usize,
        /// `SLURM_ARRAY_TASK_COUNT`.
        count: usize,
    },
    #[error(
        "{var}={index} is set but the number of partitions is not known: pass --partition-count N"
    )]
    /// A Kubernetes or AWS Batch index without `--partition-count`.
    NoCount {
        /// Variable name.
        var: &'static str,
        /// Its value.
        index: usize,
    },
    #[error(
        "{0}, but none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX is set"
    )]
    /// Partitioning was asked for but no array index is in the environment.
    NoIndex(&'static str),
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Most partitions a build can be split into (part folders are named with five digits).
pub const MAX_PARTITIONS: usize = 99_999;

impl Partition {
    /// Partition `index` of `count`, checked; `what` names where they came from in errors.
    pub fn new(index: usize, count: usize, what: &str) -> Result<Partition, PartitionError> {
        if count > MAX_PARTITIONS {
            let what = what.to_string();
            return Err(PartitionError::TooMany { what, count });
        }
        if index >= count {
            let what = what.to_string();
            return Err(PartitionError::OutOfRange { what, index, count });
        }
        Ok(Partition { index, count })
    }

    /// The part folder's name, e.g. `part-00001-of-00003`.
    pub fn folder_name(&self) -> String {
        format!("part-{:05}-of-{:05}", self.index, self.count)
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    /// `I/N`, 0-based.
    fn from_str(text: &str) -> Result<Partition, PartitionError> {
        let syntax = || PartitionError::Syntax(text.to_string());
        let (i, n) = text.split_once('/').ok_or_else(syntax)?;
        let index = i.trim().parse::<usize>().map_err(|_| syntax())?;
        let count = n.trim().parse::<usize>().map_err(|_| syntax())?;
        Partition::new(index, count, &format!("--partition {index}/{count}"))
    }
}

/// The partition a build was asked for, and where it came from (printed by the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The partition.
    pub partition: Partition,
    /// Where index and count came from, e.g. `SLURM_ARRAY_TASK_ID=4 (SLURM_ARRAY_TASK_MIN=1), SLURM_ARRAY_TASK_COUNT=5`.
    pub source: String,
}

/// Resolves `--partition` (`I/N`, `auto`, `none` or absent) and `--partition-count` against the environment
/// (`env` looks a variable up; the CLI passes `std::env::var`). Returns `None` for a whole build.
///
/// Absent `--partition` reads a Slurm array task (`SLURM_ARRAY_TASK_ID` relative to `SLURM_ARRAY_TASK_MIN`
/// and `_STEP`, `SLURM_ARRAY_TASK_COUNT`); with `--partition-count` also Kubernetes' `JOB_COMPLETION_INDEX`
/// and AWS Batch's `AWS_BATCH_JOB_ARRAY_INDEX`; where several of them name a partition, they must name the
/// same one. `auto` is the same but an error when no index is set; `none` builds every case whatever the
/// environment says, and `I/N` is taken as given.
pub fn resolve(
    flag: Option<&str>,
    count_flag: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Resolved>, PartitionError> {
    let explicit = match flag.map(str::trim) {
        Some("none") => return Ok(None),
        Some("auto") => true,
        Some(text) => {
            let partition: Partition = text.parse()?;
            check_count(count_flag, partition.count, "--partition")?;
            let source = "--partition".to_string();
            return Ok(Some(Resolved { partition, source }));
        }
        None => false,
    };
    let mut found: Vec<Resolved> = from_slurm(count_flag, env)?.into_iter().collect();
    for var in ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"] {
        let Some(index) = number(var, env)? else {
            continue;
        };
        let Some(count) = count_flag else {
            // Without a count, an index alone (e.g. an indexed job that runs one whole build per pod) is not
            // a request to partition — unless `--partition auto` said so.
            if explicit {
                return Err(PartitionError::NoCount { var, index });
            }
            continue;
        };
        let source = format!("{var}={index}, --partition-count {count}");
        let partition = Partition::new(index, count, &source)?;
        found.push(Resolved { partition, source });
    }
    if let [first, rest @ ..] = &found[..] {
        if let Some(other) = rest.iter().find(|r| r.partition != first.partition) {
            let says = |r: &Resolved| format!("{} says partition {}", r.source, r.partition);
            return Err(PartitionError::Conflict {
                first: says(first),
                second: says(other),
            });
        }
        return Ok(Some(first.clone()));
    }
    if explicit {
        return Err(PartitionError::NoIndex("--partition auto"));
    }
    if count_flag.is_some() {
        return Err(PartitionError::NoIndex("--partition-count is given"));
    }
    Ok(None)
}

fn check_count(count_flag: Option<usize>, count: usize, what: &str) -> Result<(), PartitionError> {
    match count_flag {
        Some(flag) if flag != count => Err(PartitionError::CountMismatch {
            what: what.to_string(),
            from_env: count,
            flag,
        }),
        _ => Ok(()),
    }
}

fn number(
    var: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<usize>, PartitionError> {
    let Some(value) = env(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    value
        .trim()
        .parse::<usize>()
        .map(Some)
        .map_err(|_| PartitionError::NotANumber { var, value })
}

/// A Slurm array task: index `(ID - MIN) / STEP` of `COUNT` (array ids need not start at 0, e.g.
/// `--array=1-8`); the ids must be exactly `MIN, MIN+STEP, …, MAX`.
fn from_slurm(
    count_flag: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Resolved>, PartitionError> {
    let Some(id) = number("SLURM_ARRAY_TASK_ID", env)? else {
        return Ok(None);
    };
    let min = number("SLURM_ARRAY_TASK_MIN", env)?.unwrap_or(0);
    let step = number("SLURM_ARRAY_TASK_STEP", env)?.unwrap_or(1).max(1);
    let count = match (number("SLURM_ARRAY_TASK_COUNT", env)?, count_flag) {
        (Some(count), flag) => {
            check_count(flag, count, "SLURM_ARRAY_TASK_COUNT")?;
            count
        }
        (None, Some(flag)) => flag,
        (None, None) => return Err(PartitionError::SlurmNoCount { id }),
    };
    // The last id of `count` ids from `min` in steps of `step` (`None` when it overflows: no such array).
    let last = count
        .checked_sub(1)
        .and_then(|n| n.checked_mul(step))
        .and_then(|span| span.checked_add(min));
    let max = number("SLURM_ARRAY_TASK_MAX", env)?
        .or(last)
        .unwrap_or(usize::MAX);
    let irregular = PartitionError::SlurmIrregular {
        id,
        min,
        max,
        step,
        count,
    };
    if last != Some(max) || id < min || (id - min) % step != 0 || id > max {
        return Err(irregular);
    }
    let source = format!(
        "SLURM_ARRAY_TASK_ID={id} (array {min}-{max}, step {step}), SLURM_ARRAY_TASK_COUNT={count}"
    );
    let partition = Partition::new((id - min) / step, count, &source)?;
    Ok(Some(Resolved { partition, source }))
}

/// The partition (0-based) of every case of `plan.work`, for `count` partitions.
pub fn assign(plan: &BuildPlan, count: usize) -> Result<Vec<usize>, SplitError> {
    let group = plan
        .loaded
        .manifest
        .split
        .group
        .as_ref()
        .map(|g| Regex::new(g.get_ref()))
        .transpose()
        .map_err(|e| SplitError::Group(e.to_string()))?;
    Ok(plan
        .work
        .iter()
        .map(|w| partition_of(group_key(group.as_ref(), &w.case.case_id), count))
        .collect())
}

/// `⌊xxh3_64("medvision-build partition\0" + group) · count / 2^64⌋`: uniform over `0..count` without modulo bias.
pub fn partition_of(group: &str, count: usize) -> usize {
    let mut key = b"medvision-build partition\0".to_vec();
    key.extend_from_slice(group.as_bytes());
    let hash = xxhash_rust::xxh3::xxh3_64(&key);
    ((u128::from(hash) * count as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn resolved(
        flag: Option<&str>,
        count: Option<usize>,
        pairs: &[(&str, &str)],
    ) -> Result<Option<Partition>, PartitionError> {
        resolve(flag, count, &env_of(pairs)).map(|r| r.map(|r| r.partition))
    }

    #[test]
    fn flag_is_zero_based_and_checked() {
        assert_eq!(
            resolved(Some("2/3"), None, &[]),
            Ok(Some(Partition { index: 2, count: 3 }))
        );
        let out_of_range = resolved(Some("3/3"), None, &[]).expect_err("3/3");
        assert_eq!(
            out_of_range.to_string(),
            "--partition 3/3: partition 3 of 3: the index is 0-based and must be below 3"
        );
        assert!(matches!(
            resolved(Some("0/0"), None, &[]),
            Err(PartitionError::OutOfRange {
                index: 0,
                count: 0,
                ..
            })
        ));
        // Part folders have five digits: a count beyond them is refused, not written as a longer name.
        assert_eq!(
            resolved(Some("0/99999"), None, &[]),
            Ok(Some(Partition {
                index: 0,
                count: MAX_PARTITIONS
            }))
        );
        for huge in ["0/100000", "0/18446744073709551615"] {
            assert!(
                matches!(
                    resolved(Some(huge), None, &[]),
                    Err(PartitionError::TooMany { .. })
                ),
                "{huge}"
            );
        }
        for bad in ["1", "a/3", "1/3/4", "-1/3", ""] {
            assert_eq!(
                resolved(Some(bad), None, &[]),
                Err(PartitionError::Syntax(bad.to_string())),
                "{bad}"
            );
        }
        // The flag wins over the environment; `none` ignores it.
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ];
        assert_eq!(
            resolved(Some("0/4"), None, &slurm),
            Ok(Some(Partition { index: 0, count: 4 }))
        );
        assert_eq!(resolved(Some("none"), None, &slurm), Ok(None));
        assert!(matches!(
            resolved(Some("0/4"), Some(3), &[]),
            Err(PartitionError::CountMismatch {
                from_env: 4,
                flag: 3,
                ..
            })
        ));
    }

    #[test]
    fn slurm_ids_are_taken_relative_to_the_array_minimum_and_step() {
        let env = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_MAX", "11"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(
            resolved(None, None, &env),
            Ok(Some(Partition { index: 1, count: 4 }))
        );
        // `--array=1-3`: ids 1, 2, 3 are partitions 0, 1, 2.
        let one_based = |id: &'static str| {
            [
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_MAX", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ]
        };
        assert_eq!(
            resolved(None, None, &one_based("3")),
            Ok(Some(Partition { index: 2, count: 3 }))
        );
        assert_eq!(
            resolved(None, Some(3), &one_based("1")),
            Ok(Some(Partition { index: 0, count: 3 }))
        );
        assert!(matches!(
            resolved(None, Some(4), &one_based("1")),
            Err(PartitionError::CountMismatch {
                from_env: 3,
                flag: 4,
                ..
            })
        ));
        // `--array=0,2,9`: three tasks that are not a range.
        let listed = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "9"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert!(matches!(
            resolved(None, None, &listed),
            Err(PartitionError::SlurmIrregular { id: 2, max: 9, .. })
        ));
        // A step so large that the array's last id overflows is no array this build can use.
        let overflowing = [
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "0"),
            ("SLURM_ARRAY_TASK_STEP", "9223372036854775808"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert!(matches!(
            resolved(None, None, &overflowing),
            Err(PartitionError::SlurmIrregular { count: 3, .. })
        ));
        // Ids 3 and 7 of an earlier array resubmitted: not a range of all partitions; the message says how
        // to rerun single partitions instead.
        let resubmitted = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ];
        let message = resolved(None, None, &resubmitted)
            .expect_err("irregular")
            .to_string();
        assert!(message.contains("--partition I/N"), "{message}");
        assert_eq!(
            resolved(None, None, &[("SLURM_ARRAY_TASK_ID", "0")]),
            Err(PartitionError::SlurmNoCount { id: 0 })
        );
        assert_eq!(
            resolved(None, None, &[("SLURM_ARRAY_TASK_ID", "x1")]),
            Err(PartitionError::NotANumber {
                var: "SLURM_ARRAY_TASK_ID",
                value: "x1".into()
            })
        );
    }

    #[test]
    fn kubernetes_and_aws_indices_need_the_count_flag() {
        let k8s = [("JOB_COMPLETION_INDEX", "4")];
        assert_eq!(
            resolved(None, Some(5), &k8s),
            Ok(Some(Partition { index: 4, count: 5 }))
        );
        // An index out of range names the variable it came from, not `--partition`.
        assert_eq!(
            resolved(None, Some(4), &k8s)
                .expect_err("4 of 4")
                .to_string(),
            "JOB_COMPLETION_INDEX=4, --partition-count 4: partition 4 of 4: the index is 0-based and must \
             be below 4"
        );
        // Without the count an index is not a request to partition, unless `auto` asked for one.
        assert_eq!(resolved(None, None, &k8s), Ok(None));
        assert_eq!(
            resolved(Some("auto"), None, &k8s),
            Err(PartitionError::NoCount {
                var: "JOB_COMPLETION_INDEX",
                index: 4
            })
        );
        let aws = [("AWS_BATCH_JOB_ARRAY_INDEX", "0")];
        assert_eq!(
            resolved(Some("auto"), Some(2), &aws),
            Ok(Some(Partition { index: 0, count: 2 }))
        );
        assert_eq!(resolved(None, None, &[]), Ok(None));
        assert!(matches!(
            resolved(Some("auto"), None, &[]),
            Err(PartitionError::NoIndex(_))
        ));
        assert!(matches!(
            resolved(None, Some(3), &[]),
            Err(PartitionError::NoIndex(_))
        ));
    }

    #[test]
    fn two_job_arrays_that_disagree_are_an_error_and_agreeing_ones_are_not() {
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        let with = |var: &'static str, value: &'static str| {
            let mut env = slurm.to_vec();
            env.push((var, value));
            env
        };
        // Without the count flag a Kubernetes index is no request to partition: Slurm's partition stands.
        assert_eq!(
            resolved(None, None, &with("JOB_COMPLETION_INDEX", "3")),
            Ok(Some(Partition { index: 1, count: 4 }))
        );
        // With it, the two name different partitions of the same count.
        let message = resolved(None, Some(4), &with("JOB_COMPLETION_INDEX", "3"))
            .expect_err("conflict")
            .to_string();
        assert!(
            message.contains("SLURM_ARRAY_TASK_ID=1")
                && message.contains("JOB_COMPLETION_INDEX=3")
                && message.contains("partition 1/4")
                && message.contains("partition 3/4"),
            "{message}"
        );
        assert_eq!(
            resolved(None, Some(4), &with("AWS_BATCH_JOB_ARRAY_INDEX", "1")),
            Ok(Some(Partition { index: 1, count: 4 }))
        );
        let both = [
            ("JOB_COMPLETION_INDEX", "1"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
        ];
        assert!(matches!(
            resolved(None, Some(2), &both),
            Err(PartitionError::Conflict { .. })
        ));
        // An explicit `--partition` is what the user asked for: it wins over any environment.
        assert_eq!(
            resolved(Some("0/2"), None, &both),
            Ok(Some(Partition { index: 0, count: 2 }))
        );
    }

    #[test]
    fn partitions_are_uniform_and_stable() {
        // Reference values from the Python `xxhash` package: `(xxh3_64(b"medvision-build partition\0" + g)
        // * n) >> 64`. A case's partition must not change between versions.
        for (group, of3, of7) in [
            ("case_00000", 2, 5),
            ("case_00001", 2, 6),
            ("case_00002", 1, 2),
            ("case_00003", 1, 3),
            ("case_00004", 0, 0),
            ("patient7", 2, 6),
        ] {
            assert_eq!(
                (partition_of(group, 3), partition_of(group, 7)),
                (of3, of7),
                "{group}"
            );
        }
        let counts = (0..3000).fold([0usize; 3], |mut acc, i| {
            acc[partition_of(&format!("case_{i:05}"), 3)] += 1;
            acc
        });
        for c in counts {
            assert!((900..1100).contains(&c), "{counts:?}");
        }
        for i in 0..50 {
            let g = format!("patient{i}");
            assert_eq!(partition_of(&g, 1), 0);
            let p = partition_of(&g, 7);
            assert!(p < 7);
            assert_eq!(p, partition_of(&g, 7));
        }
    }
}
