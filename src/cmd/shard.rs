//! Which shard this process is: `--shard I/N`, or, without it, what the
//! scheduler that started it says in the environment. Pure: the
//! environment comes in as a function from a name to its value, so every
//! case is tested without setting variables.
//!
//! - Slurm array job (sbatch(1) `--array`): `SLURM_ARRAY_TASK_ID` and
//!   `SLURM_ARRAY_TASK_COUNT`, the index counted from
//!   `SLURM_ARRAY_TASK_MIN` in steps of `SLURM_ARRAY_TASK_STEP` (both when
//!   set); an array that is not one regular range (`--array=1,5,9`) is
//!   refused, since its task's index cannot be told.
//! - Slurm tasks (srun(1) `--ntasks`): `SLURM_PROCID` of `SLURM_NTASKS`,
//!   when `SLURM_NTASKS` is more than 1.
//! - Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` names the index but
//!   not the count; alone it is an error that says to pass
//!   `--shard $(JOB_COMPLETION_INDEX)/N`.
//!
//! An empty variable counts as unset; a malformed one is an error naming
//! it.

use std::fmt;

use thiserror::Error;

use crate::plan::shard::{Shard, ShardError};

/// Slurm array: this task's ID.
pub const ARRAY_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
/// Slurm array: how many tasks the array has.
pub const ARRAY_TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
/// Slurm array: the lowest task ID.
pub const ARRAY_TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
/// Slurm array: the highest task ID.
pub const ARRAY_TASK_MAX: &str = "SLURM_ARRAY_TASK_MAX";
/// Slurm array: the step between task IDs (`--array=0-20:4`).
pub const ARRAY_TASK_STEP: &str = "SLURM_ARRAY_TASK_STEP";
/// Slurm step: this task's rank, from 0.
pub const PROCID: &str = "SLURM_PROCID";
/// Slurm step: how many tasks it runs.
pub const NTASKS: &str = "SLURM_NTASKS";
/// Kubernetes Indexed Job: this pod's index.
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// Where the shard came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--shard I/N`.
    Flag,
    /// A Slurm array job's variables.
    SlurmArray,
    /// A Slurm step's task rank and count.
    SlurmTasks,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "--shard",
            Source::SlurmArray => "SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT",
            Source::SlurmTasks => "SLURM_PROCID of SLURM_NTASKS",
        })
    }
}

/// This process's shard and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The shard.
    pub shard: Shard,
    /// Where it came from.
    pub source: Source,
    /// With `--shard`: the scheduler's variables say another index (a
    /// manifest that does not pass its index through, say).
    pub note: Option<String>,
}

/// Why the environment names no usable shard.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShardEnvError {
    /// A variable that is not a whole number.
    #[error(
        "{var}={value:?} is not a whole number (c1m reads it to pick this shard; --shard I/N overrides it)"
    )]
    Malformed {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// One variable of a pair without the other.
    #[error("{var} is set but {missing} is not: c1m cannot tell this shard; pass --shard I/N")]
    Missing {
        /// The variable that is set.
        var: &'static str,
        /// The one that is not.
        missing: &'static str,
    },
    /// A Slurm array whose task IDs are not one regular range.
    #[error(
        "Slurm array task {id} is not one of {count} tasks from {min} in steps of {step} ({vars}): c1m cannot tell its index; use --array=0-{last} or pass --shard I/{count}"
    )]
    Irregular {
        /// `SLURM_ARRAY_TASK_ID`.
        id: u64,
        /// `SLURM_ARRAY_TASK_COUNT`.
        count: u64,
        /// `SLURM_ARRAY_TASK_MIN` (0 when unset).
        min: u64,
        /// `SLURM_ARRAY_TASK_STEP` (1 when unset).
        step: u64,
        /// The variables as set, for the message.
        vars: String,
        /// `count - 1`.
        last: u64,
    },
    /// The variables make an index not below the count.
    #[error("{vars}: {err}")]
    Shard {
        /// The variables as set.
        vars: String,
        /// What is wrong.
        err: ShardError,
    },
    /// `JOB_COMPLETION_INDEX` without `--shard`.
    #[error(
        "JOB_COMPLETION_INDEX={index} is set (a Kubernetes Indexed Job) but the shard count is not: pass --shard $(JOB_COMPLETION_INDEX)/N in the container's args, N the Job's completions"
    )]
    KubernetesIndexOnly {
        /// Its value.
        index: String,
    },
}

/// Parses `--shard I/N`; clap's value parser. A `$` left in the text is
/// a variable nobody expanded: the message says who should have.
pub fn parse_flag(text: &str) -> Result<Shard, String> {
    text.parse::<Shard>().map_err(|e| {
        if text.contains('$') {
            format!(
                "{text:?} was not expanded: in a Kubernetes manifest write args: [connect, --shard, \"$(JOB_COMPLETION_INDEX)/N\", ...] in a Job with completionMode: Indexed (Kubernetes expands $(VAR) from the container's env); in a shell, double quotes expand a variable (\"$I/4\"), single quotes do not"
            )
        } else {
            e.to_string()
        }
    })
}

/// This process's shard: `flag` when given, else the environment's
/// (Slurm array first, then Slurm tasks); `None` when neither names one.
pub fn detect(
    flag: Option<Shard>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Detected>, ShardEnvError> {
    let get = |var: &str| env(var).filter(|v| !v.trim().is_empty());
    if let Some(shard) = flag {
        return Ok(Some(Detected {
            shard,
            source: Source::Flag,
            note: disagreement(shard, &get),
        }));
    }
    if let Some(d) = from_slurm(&get)? {
        return Ok(Some(d));
    }
    match get(JOB_COMPLETION_INDEX) {
        Some(index) => Err(ShardEnvError::KubernetesIndexOnly { index }),
        None => Ok(None),
    }
}

/// What Slurm's variables say, if any are set.
fn from_slurm(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Detected>, ShardEnvError> {
    let num = |var: &'static str| -> Result<Option<u64>, ShardEnvError> {
        get(var)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| ShardEnvError::Malformed { var, value: v })
            })
            .transpose()
    };
    let shown = |vars: &[&'static str]| -> String {
        vars.iter()
            .filter_map(|v| get(v).map(|x| format!("{v}={}", x.trim())))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let shard = |index: u64, count: u64, vars: String| -> Result<Shard, ShardEnvError> {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Shard::new(clamp(index), clamp(count)).map_err(|err| ShardEnvError::Shard { vars, err })
    };
    if let Some(id) = num(ARRAY_TASK_ID)? {
        let count = num(ARRAY_TASK_COUNT)?.ok_or(ShardEnvError::Missing {
            var: ARRAY_TASK_ID,
            missing: ARRAY_TASK_COUNT,
        })?;
        let min = num(ARRAY_TASK_MIN)?.unwrap_or(0);
        let step = num(ARRAY_TASK_STEP)?.unwrap_or(1).max(1);
        let max = num(ARRAY_TASK_MAX)?;
        let vars = shown(&[
            ARRAY_TASK_ID,
            ARRAY_TASK_MIN,
            ARRAY_TASK_MAX,
            ARRAY_TASK_STEP,
            ARRAY_TASK_COUNT,
        ]);
        let regular = id >= min
            && (id - min) % step == 0
            && max.is_none_or(|m| m >= min && (m - min) / step + 1 == count);
        if !regular {
            return Err(ShardEnvError::Irregular {
                id,
                count,
                min,
                step,
                vars,
                last: count.saturating_sub(1),
            });
        }
        return Ok(Some(Detected {
            shard: shard((id - min) / step, count, vars)?,
            source: Source::SlurmArray,
            note: None,
        }));
    }
    match num(NTASKS)? {
        Some(n) if n > 1 => {
            let id = num(PROCID)?.ok_or(ShardEnvError::Missing {
                var: NTASKS,
                missing: PROCID,
            })?;
            Ok(Some(Detected {
                shard: shard(id, n, shown(&[PROCID, NTASKS]))?,
                source: Source::SlurmTasks,
                note: None,
            }))
        }
        _ => Ok(None),
    }
}

/// A note when `--shard` and the scheduler's variables disagree.
fn disagreement(flag: Shard, get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(i) = get(JOB_COMPLETION_INDEX)
        && i.trim().parse::<u32>().ok() != Some(flag.index)
    {
        return Some(format!(
            "--shard {flag} is used, but JOB_COMPLETION_INDEX is {}: does every pod pass --shard $(JOB_COMPLETION_INDEX)/{}?",
            i.trim(),
            flag.count
        ));
    }
    match from_slurm(get) {
        Ok(Some(d)) if d.shard != flag => Some(format!(
            "--shard {flag} is used, but {} say {}",
            d.source, d.shard
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn shard(i: u32, n: u32) -> Shard {
        Shard::new(i, n).unwrap()
    }

    fn found(vars: &[(&str, &str)]) -> Option<(Shard, Source)> {
        detect(None, env(vars))
            .unwrap()
            .map(|d| (d.shard, d.source))
    }

    fn refused(vars: &[(&str, &str)]) -> String {
        detect(None, env(vars)).unwrap_err().to_string()
    }

    #[test]
    fn the_flag_says_when_a_variable_was_not_expanded() {
        assert_eq!(parse_flag("2/5"), Ok(shard(2, 5)));
        assert!(parse_flag("5/5").unwrap_err().contains("not below"));
        let e = parse_flag("$(JOB_COMPLETION_INDEX)/10").unwrap_err();
        assert!(e.contains("completionMode: Indexed"), "{e}");
    }

    #[test]
    fn nothing_set_is_the_whole() {
        assert_eq!(found(&[]), None);
        // One task is the whole too; empty values are unset.
        assert_eq!(found(&[(NTASKS, "1"), (PROCID, "0")]), None);
        assert_eq!(found(&[(ARRAY_TASK_ID, " "), (NTASKS, "")]), None);
    }

    #[test]
    fn slurm_arrays_count_from_their_lowest_id_in_steps() {
        use Source::SlurmArray as A;
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars, (u32, u32))] = &[
            (&[(ARRAY_TASK_ID, "2"), (ARRAY_TASK_COUNT, "4")], (2, 4)),
            (
                &[
                    (ARRAY_TASK_ID, "5"),
                    (ARRAY_TASK_MIN, "4"),
                    (ARRAY_TASK_MAX, "6"),
                    (ARRAY_TASK_COUNT, "3"),
                ],
                (1, 3),
            ),
            (
                &[
                    (ARRAY_TASK_ID, "12"),
                    (ARRAY_TASK_MIN, "4"),
                    (ARRAY_TASK_MAX, "16"),
                    (ARRAY_TASK_STEP, "4"),
                    (ARRAY_TASK_COUNT, "4"),
                ],
                (2, 4),
            ),
        ];
        for (vars, (i, n)) in cases {
            assert_eq!(found(vars), Some((shard(*i, *n), A)), "{vars:?}");
        }
        // The array wins over the step's tasks.
        assert_eq!(
            found(&[
                (ARRAY_TASK_ID, "1"),
                (ARRAY_TASK_COUNT, "2"),
                (PROCID, "3"),
                (NTASKS, "4")
            ]),
            Some((shard(1, 2), A))
        );
    }

    #[test]
    fn slurm_tasks_when_more_than_one() {
        assert_eq!(
            found(&[(PROCID, "3"), (NTASKS, "8")]),
            Some((shard(3, 8), Source::SlurmTasks))
        );
    }

    #[test]
    fn bad_variables_are_named() {
        assert_eq!(
            refused(&[(NTASKS, "four"), (PROCID, "0")]),
            "SLURM_NTASKS=\"four\" is not a whole number (c1m reads it to pick this shard; --shard I/N overrides it)"
        );
        assert!(
            refused(&[(ARRAY_TASK_ID, "-1"), (ARRAY_TASK_COUNT, "3")])
                .starts_with("SLURM_ARRAY_TASK_ID=\"-1\"")
        );
        assert_eq!(
            refused(&[(ARRAY_TASK_ID, "1")]),
            "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: c1m cannot tell this shard; pass --shard I/N"
        );
        assert_eq!(
            refused(&[(NTASKS, "4")]),
            "SLURM_NTASKS is set but SLURM_PROCID is not: c1m cannot tell this shard; pass --shard I/N"
        );
        assert_eq!(
            refused(&[(PROCID, "4"), (NTASKS, "4")]),
            "SLURM_PROCID=4 SLURM_NTASKS=4: shard index 4 is not below the shard count 4: indexes start at 0 (write 0/4 to 3/4)"
        );
        // --array=1,5,9: three tasks from 1 to 9, no regular step.
        let e = refused(&[
            (ARRAY_TASK_ID, "5"),
            (ARRAY_TASK_MIN, "1"),
            (ARRAY_TASK_MAX, "9"),
            (ARRAY_TASK_COUNT, "3"),
        ]);
        assert!(e.contains("use --array=0-2 or pass --shard I/3"), "{e}");
        let e = refused(&[
            (ARRAY_TASK_ID, "3"),
            (ARRAY_TASK_MIN, "4"),
            (ARRAY_TASK_COUNT, "3"),
        ]);
        assert!(
            e.starts_with("Slurm array task 3 is not one of 3 tasks from 4"),
            "{e}"
        );
    }

    #[test]
    fn a_kubernetes_index_alone_says_how_to_pass_the_count() {
        assert_eq!(
            refused(&[(JOB_COMPLETION_INDEX, "3")]),
            "JOB_COMPLETION_INDEX=3 is set (a Kubernetes Indexed Job) but the shard count is not: pass --shard $(JOB_COMPLETION_INDEX)/N in the container's args, N the Job's completions"
        );
    }

    #[test]
    fn the_flag_wins_and_notes_a_disagreement() {
        let flag = Some(shard(0, 3));
        let d = detect(flag, env(&[(JOB_COMPLETION_INDEX, "0")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (d.shard, d.source, d.note),
            (shard(0, 3), Source::Flag, None)
        );
        let d = detect(flag, env(&[(JOB_COMPLETION_INDEX, "2")]))
            .unwrap()
            .unwrap();
        assert_eq!(d.shard, shard(0, 3));
        assert!(d.note.unwrap().contains("JOB_COMPLETION_INDEX is 2"));
        let d = detect(flag, env(&[(PROCID, "1"), (NTASKS, "3")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            d.note.as_deref(),
            Some("--shard 0/3 is used, but SLURM_PROCID of SLURM_NTASKS say 1/3")
        );
        // Malformed variables do not matter when the flag is given.
        let d = detect(flag, env(&[(NTASKS, "x")])).unwrap().unwrap();
        assert_eq!((d.shard, d.note), (shard(0, 3), None));
    }
}
