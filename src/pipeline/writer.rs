//! The one owner of a build's outputs: receives each case's rows batch by batch and its totals, in the plan's
//! work order, and hands them to the report and the sinks. A single build feeds it straight from the case
//! workers; a partitioned build records the same calls and `merge` replays them, so both write the same bytes.

use crate::discover::Case;
use crate::record::Row;
use crate::sink::Sinks;

use super::case::CaseOutput;
use super::error::BuildError;
use super::report::ReportBuilder;

/// Progress notifications for the CLI's bar or log lines.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// Discovery finished: this many cases will be built.
    Start {
        /// Number of cases to build.
        cases: usize,
    },
    /// One case finished (successfully or not).
    CaseDone {
        /// The case.
        case: &'a Case,
        /// Rows it produced.
        rows: usize,
        /// Its error message, or `None` when it succeeded.
        error: Option<&'a str>,
    },
}

/// Receives a build's cases in the plan's work order (`index` = position in `BuildPlan::work`).
pub trait CaseWriter {
    /// Rows of case `index`, in output order; a big case sends several batches (one per group of slices).
    fn rows(&mut self, index: usize, rows: Vec<Row>) -> Result<(), BuildError>;
    /// Case `index` is complete: its totals (`CaseOutput` without rows: filters, lesion, warnings, notes) or
    /// its error message.
    fn case_done(
        &mut self,
        index: usize,
        result: Result<CaseOutput, String>,
    ) -> Result<(), BuildError>;
}

/// Writes cases into the dataset: rows to the report's counters and the sinks, totals to the report.
pub struct DatasetWriter<'a> {
    work: &'a [super::plan::Work],
    /// The report being gathered.
    pub report: ReportBuilder<'a>,
    /// The selected output writers.
    pub sinks: Sinks,
    fail_fast: bool,
    progress: &'a (dyn Fn(Progress) + Sync),
    /// Rows written of the case in progress.
    case_rows: usize,
}

impl<'a> DatasetWriter<'a> {
    /// A writer of `work`'s cases into `sinks`, gathering `report`.
    pub fn new(
        work: &'a [super::plan::Work],
        report: ReportBuilder<'a>,
        sinks: Sinks,
        fail_fast: bool,
        progress: &'a (dyn Fn(Progress) + Sync),
    ) -> DatasetWriter<'a> {
        DatasetWriter {
            work,
            report,
            sinks,
            fail_fast,
            progress,
            case_rows: 0,
        }
    }

    fn case(&self, index: usize) -> &'a Case {
        &self.work[index].case
    }
}

impl CaseWriter for DatasetWriter<'_> {
    fn rows(&mut self, _index: usize, rows: Vec<Row>) -> Result<(), BuildError> {
        self.case_rows += rows.len();
        for row in rows {
            self.report.row(&row);
            self.sinks.push(row)?;
        }
        Ok(())
    }

    fn case_done(
        &mut self,
        index: usize,
        result: Result<CaseOutput, String>,
    ) -> Result<(), BuildError> {
        let case = self.case(index);
        let rows = std::mem::take(&mut self.case_rows);
        match result {
            Ok(output) => {
                (self.progress)(Progress::CaseDone {
                    case,
                    rows,
                    error: None,
                });
                self.report.case_built(&output);
                Ok(())
            }
            Err(message) => {
                (self.progress)(Progress::CaseDone {
                    case,
                    rows: 0,
                    error: Some(&message),
                });
                let name = format!("{}/{}", case.collection, case.case_id);
                if rows > 0 {
                    // Workers check everything that can fail before a case's first rows leave them, so this
                    // is a defect; its rows are already in the outputs, so the build cannot go on.
                    return Err(BuildError::FailedAfterRows {
                        case: name,
                        rows,
                        message,
                    });
                }
                self.report.case_failed(case, &message);
                if self.fail_fast {
                    // Dropping the sinks (in `build`) removes every partial file.
                    return Err(BuildError::FailFast(format!("{name}: {message}")));
                }
                Ok(())
            }
        }
    }
}
