//! The workload flags shared by `bench serve`, `bench sweep` and `bench offline`.

use std::path::PathBuf;

use super::{DatasetError, DatasetSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetKind {
    Random,
    Sharegpt,
    SyntheticSharegpt,
    PrefixShare,
}

#[derive(clap::Args, Clone, Debug)]
pub struct WorkloadArgs {
    /// Which workload.
    #[arg(long, value_enum, default_value = "random")]
    pub dataset: DatasetKind,
    /// The ShareGPT JSON file for --dataset sharegpt.
    #[arg(long = "dataset-path")]
    pub dataset_path: Option<PathBuf>,
    /// Number of requests.
    #[arg(long = "num-prompts", default_value_t = 1000)]
    pub num_prompts: usize,
    /// Prompt tokens (random, prefix-share: the part after the shared prefix).
    #[arg(long = "input-len", default_value_t = 1024)]
    pub input_len: u32,
    /// Output tokens asked for (max_tokens) for random and prefix-share.
    #[arg(long = "output-len", default_value_t = 128)]
    pub output_len: u32,
    /// Random lengths uniform in [len·(1−r), len·(1+r)].
    #[arg(long = "range-ratio", default_value_t = 0.0)]
    pub range_ratio: f64,
    /// Fixed output length for --dataset sharegpt (default: the reference reply's length).
    #[arg(long = "sharegpt-output-len")]
    pub sharegpt_output_len: Option<u32>,
    /// prefix-share: number of groups sharing a prefix.
    #[arg(long = "prefix-groups", default_value_t = 4)]
    pub prefix_groups: usize,
    /// prefix-share: tokens of each group's common prefix.
    #[arg(long = "prefix-len", default_value_t = 512)]
    pub prefix_len: u32,
    /// Seed of the workload (and of the arrival times).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl WorkloadArgs {
    pub fn spec(&self) -> Result<DatasetSpec, DatasetError> {
        if self.dataset_path.is_some() && self.dataset != DatasetKind::Sharegpt {
            return Err(DatasetError::Invalid("--dataset-path is only read by --dataset sharegpt".into()));
        }
        Ok(match self.dataset {
            DatasetKind::Random => {
                DatasetSpec::Random { input_len: self.input_len, output_len: self.output_len, range_ratio: self.range_ratio }
            }
            DatasetKind::Sharegpt => DatasetSpec::ShareGpt {
                path: self.dataset_path.clone().ok_or_else(|| {
                    DatasetError::Invalid("--dataset sharegpt needs --dataset-path FILE (e.g. ShareGPT_V3_unfiltered_cleaned_split.json); without the file use --dataset synthetic-sharegpt".into())
                })?,
                output_len: self.sharegpt_output_len,
            },
            DatasetKind::SyntheticSharegpt => DatasetSpec::SyntheticShareGpt,
            DatasetKind::PrefixShare => DatasetSpec::PrefixShare {
                groups: self.prefix_groups,
                prefix_len: self.prefix_len,
                input_len: self.input_len,
                output_len: self.output_len,
            },
        })
    }
}
