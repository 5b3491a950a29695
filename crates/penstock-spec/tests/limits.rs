//! Hostile specs are refused quickly, with errors that name the limit to configure.

use penstock_spec::validate::{validate, validate_with_limits, ValidationError};
use penstock_spec::*;
use std::time::Instant;

fn executor_component() -> ComponentSpec {
    let mut comp = ComponentSpec {
        executor_label: Some("exec-inc".into()),
        ..Default::default()
    };
    comp.input_definitions
        .parameters
        .insert("x".into(), InputParameterSpec::default());
    comp.output_definitions
        .parameters
        .insert("Output".into(), OutputParameterSpec::default());
    comp
}

fn task(component: &str) -> TaskSpec {
    TaskSpec {
        component_ref: ComponentRef {
            name: component.into(),
        },
        ..Default::default()
    }
}

/// A spec whose root DAG holds `root` and whose components are `components`.
fn spec_with(root: DagSpec, components: Vec<(String, ComponentSpec)>) -> PipelineSpec {
    let mut spec = PipelineSpec {
        pipeline_info: PipelineInfo {
            name: Some("p".into()),
            ..Default::default()
        },
        deployment_spec: DeploymentSpec::default(),
        sdk_version: None,
        schema_version: "2.1.0".into(),
        components: components.into_iter().collect(),
        root: ComponentSpec {
            dag: Some(root),
            ..Default::default()
        },
        default_pipeline_root: None,
    };
    spec.components
        .insert("comp-inc".into(), executor_component());
    spec.deployment_spec.executors.insert(
        "exec-inc".into(),
        ExecutorSpec {
            container: Some(ContainerSpec {
                image: "x".into(),
                command: vec![CommandLineItem::Text("inc".into())],
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    spec
}

/// `n` tasks in one DAG, each consuming the previous one's output.
fn chain(n: usize) -> PipelineSpec {
    let mut dag = DagSpec::default();
    for i in 0..n {
        let mut t = task("comp-inc");
        let input = if i == 0 {
            TaskInputParameter {
                runtime_value: Some(ValueOrRuntimeParameter {
                    constant: Some(serde_json::json!(1)),
                    ..Default::default()
                }),
                ..Default::default()
            }
        } else {
            TaskInputParameter {
                task_output_parameter: Some(TaskOutputParameterRef {
                    producer_task: format!("t{}", i - 1),
                    output_parameter_key: "Output".into(),
                }),
                ..Default::default()
            }
        };
        t.inputs.parameters.insert("x".into(), input);
        dag.tasks.insert(format!("t{i}"), t);
    }
    spec_with(dag, Vec::new())
}

#[test]
fn a_10k_task_chain_validates_quickly() {
    let spec = chain(10_000);
    let started = Instant::now();
    let errors = validate(&spec);
    println!(
        "validating a 10,000-task chain took {:?}",
        started.elapsed()
    );
    assert!(errors.is_empty(), "{errors:?}");
}

/// A DAG component whose tasks use the given components.
fn dag_component(tasks: &[(&str, &str)]) -> ComponentSpec {
    let mut dag = DagSpec::default();
    for (name, component) in tasks {
        dag.tasks.insert(name.to_string(), task(component));
    }
    ComponentSpec {
        dag: Some(dag),
        ..Default::default()
    }
}

/// `depth` DAGs nested in one another (the root is the first), the innermost running
/// `comp-inc` without inputs.
fn nested(depth: usize) -> PipelineSpec {
    let mut components = Vec::new();
    for level in 1..depth {
        let inner = if level + 1 < depth {
            format!("comp-{}", level + 1)
        } else {
            "comp-leaf".to_string()
        };
        components.push((format!("comp-{level}"), dag_component(&[("inner", &inner)])));
    }
    components.push(("comp-leaf".into(), executor_component()));
    let first = if depth > 1 { "comp-1" } else { "comp-leaf" };
    let root = dag_component(&[("outer", first)]);
    spec_with(root.dag.unwrap_or_default(), components)
}

fn find<'a>(errors: &'a [ValidationError], needle: &str) -> &'a ValidationError {
    errors
        .iter()
        .find(|e| e.message.contains(needle))
        .unwrap_or_else(|| panic!("no error mentions {needle:?}: {errors:?}"))
}

#[test]
fn a_component_that_contains_itself_is_refused() {
    let spec = spec_with(
        dag_component(&[("a", "comp-a")]).dag.unwrap_or_default(),
        vec![("comp-a".into(), dag_component(&[("again", "comp-a")]))],
    );
    let errors = validate(&spec);
    let e = find(&errors, "contains itself");
    assert_eq!(
        e.path,
        "components.comp-a.dag.tasks.again.componentRef.name"
    );
    assert_eq!(
        e.message,
        r#"component "comp-a" contains itself: comp-a -> comp-a"#
    );
}

#[test]
fn components_that_contain_each_other_are_refused() {
    let spec = spec_with(
        dag_component(&[("a", "comp-a")]).dag.unwrap_or_default(),
        vec![
            ("comp-a".into(), dag_component(&[("b", "comp-b")])),
            ("comp-b".into(), dag_component(&[("a", "comp-a")])),
        ],
    );
    let errors = validate(&spec);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].path,
        "components.comp-b.dag.tasks.a.componentRef.name"
    );
    assert_eq!(
        errors[0].message,
        r#"component "comp-a" contains itself: comp-a -> comp-b -> comp-a"#
    );
}

#[test]
fn recursion_in_an_unused_component_is_refused_too() {
    let spec = spec_with(
        DagSpec::default(),
        vec![
            ("comp-x".into(), dag_component(&[("y", "comp-y")])),
            ("comp-y".into(), dag_component(&[("z", "comp-z")])),
            ("comp-z".into(), dag_component(&[("x", "comp-x")])),
        ],
    );
    let errors = validate(&spec);
    let e = find(&errors, "contains itself");
    assert_eq!(
        e.message,
        r#"component "comp-x" contains itself: comp-x -> comp-y -> comp-z -> comp-x"#
    );
}

#[test]
fn nesting_up_to_the_limit_is_accepted_and_deeper_is_refused() {
    assert_eq!(validate(&nested(64)), vec![]);
    let errors = validate(&nested(65));
    assert_eq!(errors.len(), 1, "{errors:?}");
    // comp-63 is level 64; its task opens level 65.
    assert_eq!(errors[0].path, "components.comp-63.dag.tasks.inner");
    assert!(
        errors[0]
            .message
            .starts_with("DAG nesting is deeper than the limit of 64 (max_dag_depth): 65 levels, root -> comp-1 -> "),
        "{}",
        errors[0].message
    );
    let limits = Limits {
        max_dag_depth: 3,
        ..Limits::default()
    };
    let errors = validate_with_limits(&nested(4), &limits);
    assert_eq!(errors[0].path, "components.comp-2.dag.tasks.inner");
    assert!(errors[0].message.contains("limit of 3 (max_dag_depth)"));
    assert!(errors[0]
        .message
        .ends_with("root -> comp-1 -> comp-2 -> comp-3"));
}

#[test]
fn a_10k_deep_nesting_is_refused_quickly_without_recursion() {
    let spec = nested(10_000);
    let started = Instant::now();
    let errors = validate(&spec);
    println!("validating 10,000 nested DAGs took {:?}", started.elapsed());
    let e = find(&errors, "(max_dag_depth)");
    assert!(e.message.contains("10000 levels"), "{}", e.message);
    assert!(e.message.len() < 400, "the chain is elided: {}", e.message);

    // The same through the parser, as the server and the CLI see it.
    let json = serde_json::to_vec(&spec).unwrap();
    let started = Instant::now();
    let err = parse_pipeline("deep.json", &json).unwrap_err();
    println!(
        "parsing and validating 10,000 nested DAGs ({} bytes) took {:?}",
        json.len(),
        started.elapsed()
    );
    assert!(err.message.contains("(max_dag_depth)"), "{err}");

    // A 10,000-long cycle is named briefly too.
    let mut spec = nested(10_000);
    if let Some(dag) = spec
        .components
        .get_mut("comp-9999")
        .and_then(|c| c.dag.as_mut())
    {
        dag.tasks.insert("back".into(), task("comp-1"));
    }
    let errors = validate(&spec);
    let e = find(&errors, "contains itself");
    assert!(e.message.len() < 400, "{}", e.message);
    assert!(e.message.contains("(9984 more)"), "{}", e.message);
}

#[test]
fn too_many_tasks_are_refused() {
    let errors = validate(&chain(10_001));
    let e = find(&errors, "(max_tasks)");
    assert_eq!(e.path, "root.dag.tasks");
    assert_eq!(
        e.message,
        "the spec has 10001 tasks in all, more than the limit of 10000 (max_tasks)"
    );
    let limits = Limits {
        max_tasks: 10,
        ..Limits::default()
    };
    assert_eq!(validate_with_limits(&chain(10), &limits), vec![]);
    assert_eq!(validate_with_limits(&chain(11), &limits).len(), 1);
}

#[test]
fn a_small_spec_that_expands_into_too_many_tasks_is_refused() {
    // 40 levels of two tasks each using the next level: 2^41 tasks once expanded.
    let mut components = Vec::new();
    for level in 1..40 {
        let inner = format!("comp-{}", level + 1);
        components.push((
            format!("comp-{level}"),
            dag_component(&[("left", &inner), ("right", &inner)]),
        ));
    }
    components.push(("comp-40".into(), dag_component(&[("leaf", "comp-inc")])));
    let spec = spec_with(
        dag_component(&[("left", "comp-1"), ("right", "comp-1")])
            .dag
            .unwrap_or_default(),
        components,
    );
    let errors = validate(&spec);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "root.dag.tasks");
    assert!(
        errors[0]
            .message
            .contains("more than the limit of 10000 (max_tasks)"),
        "{}",
        errors[0].message
    );
}

#[test]
fn long_names_are_refused() {
    let mut spec = chain(2);
    let long = "t".repeat(300);
    if let Some(dag) = spec.root.dag.as_mut() {
        dag.tasks.insert(long.clone(), task("comp-inc"));
    }
    let errors = validate(&spec);
    let e = find(&errors, "(max_name_length)");
    assert_eq!(
        e.message,
        "the task name is 300 characters long, longer than the limit of 256 (max_name_length)"
    );
    assert!(e.path.starts_with("root.dag.tasks.tttt"), "{}", e.path);
    assert!(e.path.len() < 100, "{}", e.path);

    let mut spec = chain(1);
    spec.components
        .insert("c".repeat(257), executor_component());
    let errors = validate(&spec);
    assert!(find(&errors, "(max_name_length)")
        .message
        .contains("component name"));

    let mut spec = chain(1);
    if let Some(c) = spec.components.get_mut("comp-inc") {
        c.input_definitions
            .parameters
            .insert("é".repeat(256), InputParameterSpec::default());
    }
    assert_eq!(
        validate(&spec),
        vec![],
        "256 characters (512 bytes) are allowed"
    );
}

#[test]
fn static_loops_over_too_many_items_are_refused() {
    let items: Vec<usize> = (0..10_001).collect();
    let mut spec = chain(1);
    if let Some(dag) = spec.root.dag.as_mut() {
        let mut t = task("comp-inc");
        t.parameter_iterator = Some(ParameterIterator {
            items: ParameterIteratorItems {
                raw: serde_json::to_string(&items).ok(),
                input_parameter: None,
            },
            item_input: "x".into(),
        });
        dag.tasks.insert("loop".into(), t);
    }
    let errors = validate(&spec);
    let e = find(&errors, "(max_loop_items)");
    assert_eq!(e.path, "root.dag.tasks.loop.parameterIterator.items.raw");
    assert_eq!(
        e.message,
        "the loop has 10001 items, more than the limit of 10000 (max_loop_items)"
    );
}

#[test]
fn oversized_specs_are_refused_before_parsing() {
    let limits = Limits {
        max_spec_bytes: 10,
        ..Limits::default()
    };
    let err = check_spec_size("big.yaml", 11, &limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        "big.yaml: the spec is 11 bytes, larger than the limit of 10 bytes (max_spec_bytes)"
    );
    assert!(check_spec_size("ok.yaml", 10, &limits).is_ok());
    let yaml = b"pipelineInfo: {name: p}\nschemaVersion: 2.1.0\nroot: {dag: {tasks: {}}}\n";
    let err = parse_pipeline_with_limits("p.yaml", yaml, &limits).unwrap_err();
    assert!(err.message.contains("(max_spec_bytes)"), "{err}");
    assert!(parse_pipeline_with_limits("p.yaml", yaml, &Limits::default()).is_ok());
    assert_eq!(Limits::default().max_spec_bytes, 16 * 1024 * 1024);
}

#[test]
fn a_dependency_cycle_among_many_tasks_is_found_and_named_briefly() {
    let mut spec = chain(5_000);
    if let Some(t) = spec.root.dag.as_mut().and_then(|d| d.tasks.get_mut("t0")) {
        t.dependent_tasks.push("t4999".into());
    }
    let errors = validate(&spec);
    let e = find(&errors, "dependency cycle");
    assert_eq!(e.path, "root.dag.tasks");
    assert!(e.message.ends_with("and 4980 more"), "{}", e.message);
}
