//! Limits that keep a hostile or runaway spec from costing unbounded time and memory.
//!
//! Every limit is checked by [`crate::validate::validate_with_limits`] (the spec size by
//! [`crate::parse::check_spec_size`], before parsing), and each error names the field to raise
//! (`... the limit of 64 (max_dag_depth)`). The defaults are far above what the KFP compiler
//! produces for real pipelines, so only specs that are generated to be huge or recursive meet
//! them.

/// Configurable bounds on the size and shape of a pipeline spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of DAGs, counting the root DAG as level 1 (each sub-pipeline,
    /// condition, loop and exit handler adds a level). Default: 64. Compiled pipelines rarely
    /// nest more than a handful of levels; every level costs the engine a nested DAG.
    pub max_dag_depth: usize,
    /// Most tasks in one spec: the tasks of every DAG together, and also the tasks one run
    /// creates by expanding its nested DAGs (each sub-DAG once per use; loop bodies counted
    /// once, as their item counts are known only at run time). Default: 10,000, which is as
    /// many task rows as the engine creates for a run by default.
    pub max_tasks: usize,
    /// Most items in a static loop list (`parameterIterator.items.raw`). Default: 10,000,
    /// the engine's default limit on loop iterations.
    pub max_loop_items: usize,
    /// Longest name, in characters, of a pipeline, component, executor, task, parameter or
    /// artifact. Default: 256, above Kubernetes' 253-character object names that KFP's names
    /// end up in.
    pub max_name_length: usize,
    /// Largest spec file, in bytes, checked before parsing. Default: 16 MiB; compiled
    /// pipelines are kilobytes to a few megabytes (each lightweight component embeds its
    /// source).
    pub max_spec_bytes: usize,
}

impl Limits {
    /// Default [`Limits::max_dag_depth`].
    pub const DEFAULT_MAX_DAG_DEPTH: usize = 64;
    /// Default [`Limits::max_tasks`].
    pub const DEFAULT_MAX_TASKS: usize = 10_000;
    /// Default [`Limits::max_loop_items`].
    pub const DEFAULT_MAX_LOOP_ITEMS: usize = 10_000;
    /// Default [`Limits::max_name_length`].
    pub const DEFAULT_MAX_NAME_LENGTH: usize = 256;
    /// Default [`Limits::max_spec_bytes`].
    pub const DEFAULT_MAX_SPEC_BYTES: usize = 16 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_dag_depth: Self::DEFAULT_MAX_DAG_DEPTH,
            max_tasks: Self::DEFAULT_MAX_TASKS,
            max_loop_items: Self::DEFAULT_MAX_LOOP_ITEMS,
            max_name_length: Self::DEFAULT_MAX_NAME_LENGTH,
            max_spec_bytes: Self::DEFAULT_MAX_SPEC_BYTES,
        }
    }
}
