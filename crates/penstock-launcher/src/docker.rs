//! The Docker launcher: each attempt runs in its own container from the task's image.
//!
//! It renders the [`TaskContainer`] the local launcher builds: the spec's `command` replaces the
//! image's entry point and `args` its default command; the working directory and user are the
//! image's; the files the task is given (input artifacts read-only, its output folders, the
//! run's workspace and its metrics file) are mounted at the same paths, so the executor input
//! means the same inside the container as outside and a task's outputs reach the next task
//! whatever image that one runs. Everything else the task writes (its `/tmp`, its root
//! filesystem) goes away with its container.
//!
//! Lightweight Python components do not pay their `pip install` preamble at every task: the
//! first task of an image and set of requirements installs them once in a preparation
//! container, which is committed as a local image (`penstock-prepared:<key>`); later tasks run
//! from that image without the preamble, as the local launcher does with its virtual
//! environments.
//!
//! Every container carries labels with its run, task, attempt and Penstock's pid, so that
//! [`remove_run_containers`] can clean up after a Penstock process that died.

use crate::container::{labels, PullPolicy, TaskContainer};
use crate::python_env::detect_preamble;
use crate::{
    conclude, failed, AttemptSetup, CustomPaths, DockerConfig, Ended, ExitKind, LauncherConfig,
};
use crate::{LocalLauncher, TaskLauncher};
use async_trait::async_trait;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, ImageInspect};
use bollard::query_parameters::{
    CommitContainerOptions, CreateContainerOptions, CreateImageOptions,
    DownloadFromContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions,
    StopContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use penstock_engine::{LaunchOutcome, LaunchRequest};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The repository prepared images of lightweight components are committed to.
pub const PREPARED_REPOSITORY: &str = "penstock-prepared";

/// Where the preparation container sees the shared pip cache.
const PIP_CACHE_TARGET: &str = "/penstock-pip-cache";

/// Runs container tasks in Docker (or Podman's Docker-compatible API).
#[derive(Clone)]
pub struct DockerLauncher {
    local: LocalLauncher,
    config: LauncherConfig,
    docker: Docker,
    network: Option<String>,
    pull_progress_on_stderr: bool,
    /// The host's CPUs and memory, as the daemon reports them.
    capacity: HostCapacity,
    /// One lock per prepared-image key, so parallel tasks prepare an image once.
    preparing: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl std::fmt::Debug for DockerLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerLauncher")
            .field("home", &self.config.home)
            .field("network", &self.network)
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
struct HostCapacity {
    cpus: Option<i64>,
    memory: Option<i64>,
}

/// Where the daemon is expected, for error messages.
fn daemon_address() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => format!("DOCKER_HOST={host}"),
        _ => "the default socket unix:///var/run/docker.sock (set DOCKER_HOST to use another)"
            .to_string(),
    }
}

/// Connects to the daemon the standard way (`DOCKER_HOST`, else the default socket) and
/// agrees on an API version with it.
pub async fn connect() -> Result<Docker, String> {
    let docker = Docker::connect_with_defaults()
        .map_err(|e| format!("cannot use the Docker daemon at {}: {e}", daemon_address()))?;
    let docker = docker.negotiate_version().await.map_err(|e| {
        format!(
            "cannot reach the Docker daemon at {}: {e}",
            daemon_address()
        )
    })?;
    docker.ping().await.map_err(|e| {
        format!(
            "the Docker daemon at {} does not answer: {e}",
            daemon_address()
        )
    })?;
    Ok(docker)
}

impl DockerLauncher {
    /// Connects to the Docker daemon; fails with a message naming where it looked.
    pub async fn connect(config: LauncherConfig, docker: DockerConfig) -> Result<Self, String> {
        let client = connect().await?;
        let info = client
            .info()
            .await
            .map_err(|e| format!("the Docker daemon at {}: {e}", daemon_address()))?;
        Ok(DockerLauncher {
            local: LocalLauncher::new(config.clone()),
            config,
            docker: client,
            network: docker.network,
            pull_progress_on_stderr: docker.pull_progress_on_stderr,
            capacity: HostCapacity {
                cpus: info.ncpu,
                memory: info.mem_total,
            },
            preparing: Arc::default(),
        })
    }

    /// Checks the task's limits against the host; a task that asks for more than there is
    /// would never start.
    fn check_capacity(&self, container: &TaskContainer) -> Result<(), String> {
        let r = &container.resources;
        if let (Some(cpu), Some(host)) = (r.cpu_limit, self.capacity.cpus) {
            if cpu > host as f64 {
                return Err(format!(
                    "the task asks for {cpu} CPUs, but the Docker host has {host}"
                ));
            }
        }
        if let (Some(memory), Some(host)) = (r.memory_limit, self.capacity.memory) {
            if memory > host.max(0) as u64 {
                return Err(format!(
                    "the task asks for {} of memory, but the Docker host has {}",
                    human_bytes(memory),
                    human_bytes(host.max(0) as u64)
                ));
            }
        }
        Ok(())
    }

    /// Makes sure `image` is present, pulling it when the policy says so; pull progress goes
    /// to the task's log.
    async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
        setup: &AttemptSetup,
        cancel: &CancellationToken,
    ) -> Result<ImageInspect, String> {
        let present = self.docker.inspect_image(image).await;
        let pull = match (&present, policy) {
            (_, PullPolicy::Always) => true,
            (Ok(_), _) => false,
            (Err(_), PullPolicy::IfNotPresent) => true,
            (Err(e), PullPolicy::Never) => {
                return Err(format!(
                    "image '{image}' is not on the Docker host and its pull policy is Never: {}",
                    daemon_reason(e)
                ))
            }
        };
        if pull {
            setup
                .log
                .write(format!("[penstock] pulling image {image}\n").as_bytes());
            if self.pull_progress_on_stderr {
                eprintln!("penstock: pulling image {image}");
            }
            let options = CreateImageOptions {
                from_image: Some(image.to_string()),
                ..Default::default()
            };
            let mut stream = self.docker.create_image(Some(options), None, None);
            let mut last_status = String::new();
            loop {
                let item = tokio::select! {
                    item = stream.next() => item,
                    _ = cancel.cancelled() => return Err("cancelled while pulling the image".into()),
                };
                match item {
                    None => break,
                    Some(Ok(info)) => {
                        let status = info.status.unwrap_or_default();
                        // One line per layer and status, not per progress tick.
                        let line = match &info.id {
                            Some(id) => format!("{id}: {status}"),
                            None => status,
                        };
                        if line != last_status
                            && info.progress_detail.is_none_or(|p| p.current.is_none())
                        {
                            setup
                                .log
                                .write(format!("[penstock] pull {image}: {line}\n").as_bytes());
                            if self.pull_progress_on_stderr {
                                eprintln!("penstock: pulling {image}: {line}");
                            }
                            last_status = line;
                        }
                    }
                    Some(Err(e)) => {
                        return Err(format!(
                            "image '{image}' could not be pulled: {}",
                            daemon_reason(&e)
                        ))
                    }
                }
            }
        }
        self.docker.inspect_image(image).await.map_err(|e| {
            format!(
                "image '{image}' is not on the Docker host after pulling it: {}",
                daemon_reason(&e)
            )
        })
    }

    /// For a lightweight component, the image with its pip requirements installed (prepared
    /// once per image and requirements) and the command without its install preamble.
    async fn prepared(
        &self,
        image: &ImageInspect,
        argv: &[String],
        setup: &AttemptSetup,
        cancel: &CancellationToken,
    ) -> Result<Option<(String, Vec<String>)>, String> {
        let Some((preamble, start)) = detect_preamble(argv) else {
            return Ok(None);
        };
        let installs = preamble.resolved(&self.config.kfp_runtime);
        let image_id = image.id.clone().unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(image_id.as_bytes());
        for install in &installs {
            hasher.update(b"\n");
            hasher.update(install.join("\u{0}").as_bytes());
        }
        let key = hex::encode(hasher.finalize())[..24].to_string();
        let tag = format!("{PREPARED_REPOSITORY}:{key}");
        let command = argv[start..].to_vec();
        let lock = {
            let mut map = self.preparing.lock().await;
            map.entry(key.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if self.docker.inspect_image(&tag).await.is_ok() {
            setup.log.write(
                format!("[penstock] using {tag}, the task's image with its pip requirements installed\n")
                    .as_bytes(),
            );
            return Ok(Some((tag, command)));
        }
        setup.log.write(
            format!(
                "[penstock] preparing {tag}: installing the component's pip requirements into the image once\n"
            )
            .as_bytes(),
        );
        let pip_cache = self.config.home.join("docker").join("pip-cache");
        std::fs::create_dir_all(&pip_cache)
            .map_err(|e| format!("cannot create {}: {e}", pip_cache.display()))?;
        let mut script = String::from(
            "set -e\nif ! python3 -m pip --version >/dev/null 2>&1; then python3 -m ensurepip || python3 -m ensurepip --user; fi\n",
        );
        for install in &installs {
            let words: Vec<String> = install
                .iter()
                .map(|w| shlex::try_quote(w).map(|q| q.into_owned()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("pip requirement cannot be quoted: {e}"))?;
            script.push_str(&format!(
                "python3 -m pip install --disable-pip-version-check --no-warn-script-location --cache-dir {PIP_CACHE_TARGET} {}\n",
                words.join(" ")
            ));
        }
        let mut container_labels: HashMap<String, String> = HashMap::new();
        container_labels.insert(labels::MANAGED.into(), "true".into());
        for key in [labels::RUN_ID, labels::TASK_ID, labels::SUPERVISOR] {
            if let Some(v) = setup.container.labels.get(key) {
                container_labels.insert(key.into(), v.clone());
            }
        }
        let body = ContainerCreateBody {
            image: Some(image_id.clone()),
            entrypoint: Some(vec!["sh".into(), "-c".into(), script]),
            cmd: Some(vec![]),
            labels: Some(container_labels),
            host_config: Some(HostConfig {
                binds: Some(vec![format!("{}:{PIP_CACHE_TARGET}", pip_cache.display())]),
                network_mode: self.network.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self.create(body).await?;
        let run = self.run_container(&id, setup, cancel).await;
        let outcome = match run {
            Ok(Ended::Exited(ExitKind::Code(0))) => {
                let config = image.config.clone().unwrap_or_default();
                let json = |v: Option<Vec<String>>| {
                    serde_json::to_string(&v.unwrap_or_default()).unwrap_or_else(|_| "[]".into())
                };
                let options = CommitContainerOptions {
                    container: Some(id.clone()),
                    repo: Some(PREPARED_REPOSITORY.into()),
                    tag: Some(key.clone()),
                    comment: Some(format!("pip requirements of a lightweight component, on {image_id}")),
                    changes: Some(format!(
                        "ENTRYPOINT {}\nCMD {}",
                        json(config.entrypoint),
                        json(config.cmd)
                    )),
                    ..Default::default()
                };
                self.docker
                    .commit_container(options, bollard::models::ContainerConfig::default())
                    .await
                    .map(|_| Some((tag.clone(), command)))
                    .map_err(|e| format!("committing the prepared image {tag}: {}", daemon_reason(&e)))
            }
            Ok(Ended::Exited(ExitKind::Code(code))) => Err(format!(
                "installing the component's pip requirements in image '{}' failed with exit code {code} (see the task's log)",
                setup.container.image
            )),
            Ok(Ended::Exited(ExitKind::Signal(s))) => Err(format!(
                "installing the component's pip requirements was killed by signal {s}"
            )),
            Ok(Ended::Canceled) => Err("cancelled while installing pip requirements".into()),
            Ok(Ended::Failed(m)) | Err(m) => Err(m),
        };
        self.remove(&id).await;
        outcome
    }

    async fn create(&self, body: ContainerCreateBody) -> Result<String, String> {
        let image = body.image.clone().unwrap_or_default();
        let created = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| {
                format!(
                    "cannot create a container from image '{image}': {}",
                    daemon_reason(&e)
                )
            })?;
        Ok(created.id)
    }

    /// Starts container `id`, copies its output to the task's log until it ends and returns
    /// how it ended; on cancellation stops it.
    async fn run_container(
        &self,
        id: &str,
        setup: &AttemptSetup,
        cancel: &CancellationToken,
    ) -> Result<Ended, String> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| format!("cannot start the task's container: {}", daemon_reason(&e)))?;
        let log = setup.log.clone();
        let mut logs = self.docker.logs(
            id,
            Some(LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                tail: "all".into(),
                ..Default::default()
            }),
        );
        let pump = tokio::spawn(async move {
            while let Some(Ok(chunk)) = logs.next().await {
                log.write(&chunk.into_bytes());
            }
        });
        let mut wait = self.docker.wait_container(id, None::<WaitContainerOptions>);
        let waited = tokio::select! {
            w = wait.next() => Some(w),
            _ = cancel.cancelled() => None,
        };
        let Some(waited) = waited else {
            let _ = self
                .docker
                .stop_container(
                    id,
                    Some(StopContainerOptions {
                        t: Some(1),
                        ..Default::default()
                    }),
                )
                .await;
            pump.abort();
            return Ok(Ended::Canceled);
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
        let code = match waited {
            Some(Ok(r)) => r.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => {
                return Err(format!(
                    "waiting for the task's container: {}",
                    daemon_reason(&e)
                ))
            }
            None => {
                return Err("the Docker daemon stopped reporting on the task's container".into())
            }
        };
        let inspect = self.docker.inspect_container(id, None).await.ok();
        if let Some(state) = inspect.and_then(|i| i.state) {
            if state.oom_killed == Some(true) {
                return Ok(Ended::Failed(format!(
                    "the task's container ran out of memory{} and was killed",
                    setup
                        .container
                        .resources
                        .memory_limit
                        .map(|m| format!(" (limit {})", human_bytes(m)))
                        .unwrap_or_default()
                )));
            }
        }
        let code = i32::try_from(code).unwrap_or(i32::MAX);
        // Docker reports a death by signal n as 128 + n, as a shell does.
        Ok(Ended::Exited(ExitKind::Code(code)))
    }

    /// Penstock runs as a user other than root, and the task's container wrote its outputs as
    /// whatever user its image runs as (often root): hand the writable mounts back to
    /// Penstock's user, so it can read, cache and delete them. Uses the task's image (its
    /// `chown`); a failure is noted in the task's log.
    async fn give_back_outputs(&self, image: &str, setup: &AttemptSetup) {
        let owner = format!("{}:{}", nix::unistd::geteuid(), nix::unistd::getegid());
        let writable: Vec<&crate::container::Mount> = setup
            .container
            .mounts
            .iter()
            .filter(|m| !m.read_only)
            .collect();
        let mut entrypoint = vec!["chown".to_string(), "-R".to_string(), owner];
        entrypoint.extend(writable.iter().map(|m| m.target.display().to_string()));
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(entrypoint),
            cmd: Some(vec![]),
            user: Some("0".into()),
            labels: Some(setup.container.labels.clone().into_iter().collect()),
            host_config: Some(HostConfig {
                binds: Some(
                    writable
                        .iter()
                        .map(|m| format!("{}:{}", m.host.display(), m.target.display()))
                        .collect(),
                ),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let outcome = match self.create(body).await {
            Ok(id) => {
                let ended = self
                    .run_container(&id, setup, &CancellationToken::new())
                    .await;
                self.remove(&id).await;
                match ended {
                    Ok(Ended::Exited(ExitKind::Code(0))) => Ok(()),
                    Ok(_) => Err("chown in the task's image failed".to_string()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            setup.log.write(
                format!("[penstock] cannot give the task's outputs back to Penstock's user: {e}\n")
                    .as_bytes(),
            );
        }
    }

    async fn remove(&self, id: &str) {
        let _ = self
            .docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await;
    }

    /// Fetches the paths the component gave to `set_path` that are not under a mount (they
    /// live in the container's own filesystem) into the attempt's folder, before the container
    /// goes away.
    async fn fetch_custom_paths(
        &self,
        id: &str,
        setup: &AttemptSetup,
        working_dir: &str,
    ) -> Result<CustomPaths, String> {
        let mut custom = CustomPaths::relative_to(Path::new(working_dir));
        let reported = reported_custom_paths(&setup.paths.executor_output);
        for (index, path) in reported.into_iter().enumerate() {
            let absolute = if path.starts_with('/') {
                PathBuf::from(&path)
            } else {
                Path::new(working_dir).join(&path)
            };
            if setup
                .container
                .mounts
                .iter()
                .any(|m| absolute.starts_with(&m.target))
            {
                // Mounted at the same path: the file is already on this machine.
                custom.fetched.insert(path, absolute);
                continue;
            }
            let staging = setup
                .paths
                .executor_output
                .parent()
                .map(|p| p.join("custom-paths").join(index.to_string()))
                .unwrap_or_default();
            std::fs::create_dir_all(&staging)
                .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
            let mut stream = self.docker.download_from_container(
                id,
                Some(DownloadFromContainerOptions {
                    path: absolute.display().to_string(),
                }),
            );
            let mut archive = Vec::new();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => archive.extend_from_slice(&bytes),
                    Err(e) => {
                        // Leave it unfetched: reading the outputs reports the missing path.
                        setup.log.write(
                            format!(
                                "[penstock] cannot copy {} (set_path) out of the container: {}\n",
                                absolute.display(),
                                daemon_reason(&e)
                            )
                            .as_bytes(),
                        );
                        archive.clear();
                        break;
                    }
                }
            }
            if archive.is_empty() {
                custom.fetched.insert(path, staging.join("missing"));
                continue;
            }
            let name = absolute
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "root".into());
            let unpack = staging.clone();
            tokio::task::spawn_blocking(move || {
                tar::Archive::new(archive.as_slice()).unpack(&unpack)
            })
            .await
            .map_err(|e| format!("copying {} out of the container: {e}", absolute.display()))?
            .map_err(|e| format!("copying {} out of the container: {e}", absolute.display()))?;
            custom.fetched.insert(path, staging.join(name));
        }
        Ok(custom)
    }

    async fn attempt(&self, request: &LaunchRequest, cancel: CancellationToken) -> LaunchOutcome {
        let mut setup = match self.local.setup(request, true) {
            Ok(s) => s,
            Err(message) => return failed(message),
        };
        let result = self.run_attempt(&setup, &cancel).await;
        setup.stop_metrics().await;
        let (ended, program, custom, id) = match result {
            Ok(done) => done,
            // Cancelled while pulling or preparing the image: nothing of the task ran.
            Err(_) if cancel.is_cancelled() => {
                setup
                    .log
                    .write(b"[penstock] cancelled before the task started\n");
                return LaunchOutcome::Canceled;
            }
            Err(message) => return failed(message),
        };
        self.remove(&id).await;
        conclude(request, &setup, ended, &program, custom).await
    }

    /// Runs the attempt's container; returns how it ended, the program's name, where its
    /// custom output paths were copied and the container's id (still to be removed).
    async fn run_attempt(
        &self,
        setup: &AttemptSetup,
        cancel: &CancellationToken,
    ) -> Result<(Ended, String, CustomPaths, String), String> {
        let container = &setup.container;
        if container.image.is_empty() {
            return Err("the task's container has no image".into());
        }
        self.check_capacity(container)?;
        let image = self
            .ensure_image(&container.image, container.pull_policy, setup, cancel)
            .await?;
        let mut entrypoint = container.command.clone();
        let mut cmd = container.args.clone();
        let mut image_ref = container.image.clone();
        if let Some((prepared, command)) = self
            .prepared(&image, &container.argv(), setup, cancel)
            .await?
        {
            image_ref = prepared;
            entrypoint = command;
            cmd = Vec::new();
        }
        let program = entrypoint
            .first()
            .or(cmd.first())
            .cloned()
            .unwrap_or_else(|| format!("the entry point of {}", container.image));
        let mut env: Vec<String> = vec![
            "PYTHONUNBUFFERED=1".into(),
            format!(
                "PENSTOCK_RUN_ID={}",
                container
                    .labels
                    .get(labels::RUN_ID)
                    .cloned()
                    .unwrap_or_default()
            ),
            format!(
                "PENSTOCK_TASK_ID={}",
                container
                    .labels
                    .get(labels::TASK_ID)
                    .cloned()
                    .unwrap_or_default()
            ),
            format!("PENSTOCK_METRICS_FILE={}", setup.metrics_file.display()),
        ];
        env.extend(container.env.iter().map(|(k, v)| format!("{k}={v}")));
        let binds = container
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{}:{}{}",
                    m.host.display(),
                    m.target.display(),
                    if m.read_only { ":ro" } else { "" }
                )
            })
            .collect();
        let device_requests = container.resources.accelerator.as_ref().map(|a| {
            vec![DeviceRequest {
                driver: Some(String::new()),
                count: Some(i64::try_from(a.count).unwrap_or(i64::MAX)),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]
        });
        let image_ref_for_fixup = image_ref.clone();
        let body = ContainerCreateBody {
            image: Some(image_ref),
            entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
            cmd: (!cmd.is_empty()).then_some(cmd),
            env: Some(env),
            labels: Some(container.labels.clone().into_iter().collect()),
            host_config: Some(HostConfig {
                binds: Some(binds),
                nano_cpus: container.resources.cpu_limit.map(|c| (c * 1e9) as i64),
                memory: container
                    .resources
                    .memory_limit
                    .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
                device_requests,
                network_mode: self.network.clone(),
                // A minimal init reaps the task's children and forwards signals.
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self.create(body).await.map_err(|e| {
            if container.resources.accelerator.is_some() {
                format!("{e} (the task asks for a GPU: the Docker host needs the NVIDIA container toolkit)")
            } else {
                e
            }
        })?;
        let ended = match self.run_container(&id, setup, cancel).await {
            Ok(e) => e,
            Err(message) => {
                self.remove(&id).await;
                let hint = if container.resources.accelerator.is_some() {
                    " (the task asks for a GPU: the Docker host needs the NVIDIA container toolkit)"
                } else {
                    ""
                };
                return Err(format!("{message}{hint}"));
            }
        };
        if !nix::unistd::geteuid().is_root() {
            self.give_back_outputs(&image_ref_for_fixup, setup).await;
        }
        let working_dir = image
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        let custom = if matches!(ended, Ended::Exited(ExitKind::Code(0))) {
            match self.fetch_custom_paths(&id, setup, &working_dir).await {
                Ok(c) => c,
                Err(message) => {
                    self.remove(&id).await;
                    return Err(message);
                }
            }
        } else {
            CustomPaths::relative_to(Path::new(&working_dir))
        };
        Ok((ended, program, custom, id))
    }
}

/// The `custom_path`s an executor output reports (KFP ≥ 2.15's `set_path`).
fn reported_custom_paths(executor_output: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(executor_output) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    if let Some(artifacts) = value.get("artifacts").and_then(Value::as_object) {
        for list in artifacts.values() {
            for item in list
                .get("artifacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(p) = item
                    .get("custom_path")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                {
                    paths.push(p.to_string());
                }
            }
        }
    }
    paths
}

/// The daemon's own words for an error.
fn daemon_reason(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

fn human_bytes(bytes: u64) -> String {
    const GIB: f64 = 1073741824.0;
    const MIB: f64 = 1048576.0;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", b / MIB)
    }
}

/// Removes every container Penstock started for `run_id` (a run whose Penstock process died
/// is resumed or failed). Returns how many were removed.
pub async fn remove_run_containers(docker: &Docker, run_id: &str) -> Result<usize, String> {
    remove_labelled(docker, &format!("{}={run_id}", labels::RUN_ID)).await
}

/// Removes every container started by the Penstock process `pid` (it died).
pub async fn remove_supervised_containers(docker: &Docker, pid: u32) -> Result<usize, String> {
    remove_labelled(docker, &format!("{}={pid}", labels::SUPERVISOR)).await
}

async fn remove_labelled(docker: &Docker, label: &str) -> Result<usize, String> {
    let mut filters = HashMap::new();
    filters.insert(
        "label".to_string(),
        vec![format!("{}=true", labels::MANAGED), label.to_string()],
    );
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(|e| format!("listing containers: {}", daemon_reason(&e)))?;
    let mut removed = 0;
    for c in list {
        let Some(id) = c.id else { continue };
        if docker
            .remove_container(
                &id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

#[async_trait]
impl TaskLauncher for DockerLauncher {
    async fn launch(&self, request: LaunchRequest, cancel: CancellationToken) -> LaunchOutcome {
        self.attempt(&request, cancel).await
    }

    fn output_artifact_uri(&self, run_id: &str, task_path: &str, output_name: &str) -> String {
        self.local
            .output_artifact_uri(run_id, task_path, output_name)
    }

    fn log_uri(&self, run_id: &str, task_path: &str) -> Option<String> {
        self.local.log_uri(run_id, task_path)
    }

    async fn artifact_exists(&self, uri: &str) -> bool {
        self.local.artifact_exists(uri).await
    }

    async fn log_tail(&self, run_id: &str, task_path: &str, lines: usize) -> Vec<String> {
        self.local.log_tail(run_id, task_path, lines).await
    }

    async fn stop_leftovers(&self, run_id: &str) -> usize {
        let processes = self.local.stop_leftovers(run_id).await;
        let containers = match remove_run_containers(&self.docker, run_id).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(run = %run_id, "cannot remove the run's leftover containers: {e}");
                0
            }
        };
        processes + containers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_paths_are_read_from_the_executor_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("executor_output.json");
        std::fs::write(
            &file,
            r#"{"artifacts": {"model": {"artifacts": [{"name": "model", "uri": "/x", "custom_path": "/tmp/model"}]},
                "data": {"artifacts": [{"name": "data", "uri": "/y"}]}}}"#,
        )
        .unwrap();
        assert_eq!(reported_custom_paths(&file), vec!["/tmp/model".to_string()]);
        assert!(reported_custom_paths(&dir.path().join("none.json")).is_empty());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
