//! Unit tests of the Kubernetes generator: the documents' shapes read
//! back as YAML, the sysctls' placement, and the pod command against
//! Kubernetes' own `$(VAR)` expansion rules.

use super::*;

#[path = "../../tests/it/util/yaml.rs"]
mod yaml_read;
use yaml_read::{docs, kinds, strings};

use crate::deploy::tests::load;

fn spec(target: &str, conns: u64, shards: u32) -> JobSpec {
    JobSpec {
        load: load(target, conns, shards),
        kube: Kube::default(),
        server: None,
    }
}

/// Kubernetes' expansion of `$(VAR)` in command and args
/// (third_party/forked/golang/expansion): `$$` is `$`, `$(NAME)` is the
/// variable's value when defined and left as written otherwise, any
/// other `$` stays.
fn expand(s: &str, env: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out += &rest[..i];
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(') {
            match r.find(')') {
                Some(end) => {
                    let name = &r[..end];
                    match env.iter().find(|(k, _)| *k == name) {
                        Some((_, v)) => out += v,
                        None => out += &format!("$({name})"),
                    }
                    rest = &r[end + 1..];
                }
                None => {
                    out += "$(";
                    rest = r;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out + rest
}

#[test]
fn a_job_is_a_headless_service_and_an_indexed_job() {
    let m = job(&spec("redis.db.svc:6379-6380", 100_000, 4)).unwrap();
    assert!(m.notes.is_empty(), "{:?}", m.notes);
    let d = docs(&m.text);
    assert_eq!(kinds(&d), ["Service/c1m", "Job/c1m"]);
    let svc = &d[0];
    assert_eq!(svc["apiVersion"], "v1");
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(
        svc["spec"]["selector"]["app.kubernetes.io/component"],
        "client"
    );

    let job = &d[1];
    assert_eq!(job["apiVersion"], "batch/v1");
    let s = &job["spec"];
    assert_eq!(s["completionMode"], "Indexed");
    assert_eq!(s["completions"].as_u64(), Some(4));
    assert_eq!(s["parallelism"].as_u64(), Some(4));
    assert_eq!(s["backoffLimitPerIndex"].as_u64(), Some(0));
    let pod = &s["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["subdomain"], "c1m");
    assert_eq!(
        s["template"]["metadata"]["labels"], svc["spec"]["selector"],
        "the Service names the Job's pods"
    );
    let spread = &pod["topologySpreadConstraints"][0];
    assert_eq!(spread["maxSkew"].as_u64(), Some(1));
    assert_eq!(spread["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(spread["whenUnsatisfiable"], "DoNotSchedule");
    assert_eq!(
        spread["labelSelector"]["matchLabels"],
        svc["spec"]["selector"]
    );
    let sysctls = &pod["securityContext"]["sysctls"];
    assert_eq!(sysctls.as_sequence().unwrap().len(), 1);
    assert_eq!(sysctls[0]["name"], "net.ipv4.ip_local_port_range");
    assert_eq!(sysctls[0]["value"], "1024 65535");
    assert!(pod.get("hostNetwork").is_none());

    let c = &pod["containers"][0];
    assert_eq!(c["image"], DEFAULT_IMAGE);
    assert_eq!(strings(&c["command"]), ["c1m"]);
    assert_eq!(
        strings(&c["args"]).join(" "),
        "connect redis.db.svc:6379-6380 -n 100000 --shard $(JOB_COMPLETION_INDEX)/4 --json - --hold 60s"
    );
    assert_eq!(c["env"][0]["name"], "NODE_NAME");
    assert_eq!(
        c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "spec.nodeName"
    );
    // 25,000 sockets per pod: 25,000 × 3.9 KiB × 1.25 + 256 MiB = 375.02
    // MiB, rounded up.
    assert_eq!(c["resources"]["requests"]["memory"], "376Mi");
    assert_eq!(c["resources"]["limits"]["memory"], "376Mi");
    assert_eq!(c["resources"]["requests"]["cpu"], "1");
    assert!(c["resources"]["limits"].get("cpu").is_none());
    // The comments say how to collect and merge.
    assert!(m.text.contains("# c1m k8s job: 100,000 connections to redis.db.svc:6379-6380 in 4 shards (up to 25,000 per pod)"), "{}", m.text);
    assert!(
        m.text
            .contains("batch.kubernetes.io/job-completion-index=$i > c1m-$i.json")
    );
    assert!(m.text.contains("#   c1m merge c1m-*.json"));
}

#[test]
fn the_pod_command_is_the_manifest_expanded() {
    let mut s = spec("s:8090-8099", 1_000_003, 3);
    s.load.rate = Some(3000.0);
    s.load.start_at = Some("@1764583200".into());
    // Arguments with $ survive Kubernetes' expansion unchanged.
    s.load.extra = vec![
        "--message".into(),
        "$(HOME) $$ $x".into(),
        "--first-message".into(),
        "a'b".into(),
    ];
    s.kube.metrics = true;
    let d = docs(&job(&s).unwrap().text);
    let c = &d[1]["spec"]["template"]["spec"]["containers"][0];
    let (command, args) = (strings(&c["command"]), strings(&c["args"]));
    for i in 0..3 {
        let index = i.to_string();
        let env = [("JOB_COMPLETION_INDEX", index.as_str()), ("HOME", "/root")];
        let expanded: Vec<String> = command
            .iter()
            .chain(&args)
            .map(|a| expand(a, &env))
            .collect();
        assert_eq!(expanded, pod_command(&s, i).unwrap());
    }
    assert_eq!(
        pod_command(&s, 2).unwrap().join(" "),
        "c1m connect s:8090-8099 -n 1000003 --shard 2/3 --json - --hold 60s --rate 3000 \
         --start-at @1764583200 --message $(HOME) $$ $x --first-message a'b \
         --metrics 0.0.0.0:9464 --metrics-public"
    );
    assert_eq!(
        pod_command(&s, 3),
        Err(DeployError::NoSuchShard {
            index: 3,
            shards: 3
        })
    );
}

#[test]
fn with_the_server_the_clients_wait_for_it_and_aim_at_it() {
    let mut s = spec("unused:1", 1_000_000, 10);
    let local = client_local_ports(&s.kube);
    // 100,000 per pod, 32,256 per pair at most: 4 ports.
    let server = Server::for_load(&s.load, 8090, local).unwrap();
    assert_eq!(server.ports, (8090, 8093));
    s.load.targets = vec![server.target(&s.kube)];
    s.server = Some(server);
    s.kube.namespace = Some("load".into());
    let m = job(&s).unwrap();
    let d = docs(&m.text);
    assert_eq!(
        kinds(&d),
        [
            "Service/c1m-server",
            "Deployment/c1m-server",
            "Service/c1m",
            "Job/c1m"
        ]
    );
    assert!(d.iter().all(|x| x["metadata"]["namespace"] == "load"));
    let svc = &d[0]["spec"];
    assert_eq!(svc["clusterIP"], "None");
    let ports: Vec<u64> = svc["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [8090, 8091, 8092, 8093]);
    assert_eq!(svc["ports"][3]["name"], "p8093");

    let dep = &d[1]["spec"];
    assert_eq!(dep["replicas"].as_u64(), Some(1));
    assert_eq!(dep["strategy"]["type"], "Recreate");
    assert_eq!(dep["selector"]["matchLabels"], svc["selector"]);
    let server_pod = &dep["template"]["spec"];
    let sc = &server_pod["containers"][0];
    assert_eq!(
        strings(&sc["args"]).join(" "),
        "serve --listen 0.0.0.0:8090-8093 --max-conns 1000000"
    );
    assert_eq!(
        sc["readinessProbe"]["tcpSocket"]["port"].as_u64(),
        Some(8090)
    );
    // 1,000,000 sockets × 3.9 KiB × 1.25 + 256 MiB.
    assert_eq!(sc["resources"]["limits"]["memory"], "5017Mi");
    // somaxconn and tcp_max_syn_backlog are unsafe: left out by default.
    assert!(server_pod.get("securityContext").is_none());
    assert!(m.text.contains(
        "# Left out: net.core.somaxconn=65535 is namespaced but not in Kubernetes' safe set"
    ));

    let pod = &d[3]["spec"]["template"]["spec"];
    let args = strings(&pod["containers"][0]["args"]);
    assert_eq!(args[1], "c1m-server:8090-8093");
    let init = &pod["initContainers"][0];
    assert_eq!(init["name"], "wait-for-server");
    let script = strings(&init["command"]).join(" ");
    assert!(script.contains("getent hosts c1m-server"), "{script}");
    assert!(
        !script.contains('$'),
        "no $ for Kubernetes to expand: {script}"
    );
    let avoid =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        avoid["podAffinityTerm"]["labelSelector"]["matchLabels"],
        svc["selector"]
    );
}

#[test]
fn unsafe_sysctls_only_when_asked_and_never_with_host_network() {
    let k = Kube {
        unsafe_sysctls: true,
        ..Kube::default()
    };
    let server = Server {
        ports: (8090, 8090),
        max_conns: 1000,
    };
    let m = self::server(&k, &server).unwrap();
    let d = docs(&m.text);
    assert_eq!(kinds(&d), ["Service/c1m-server", "Deployment/c1m-server"]);
    let sysctls = &d[1]["spec"]["template"]["spec"]["securityContext"]["sysctls"];
    let names: Vec<&str> = sysctls
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"]
    );
    assert!(
        m.text
            .contains("--allowed-unsafe-sysctls=net.core.somaxconn,net.ipv4.tcp_max_syn_backlog")
    );
    assert_eq!(
        strings(&d[1]["spec"]["template"]["spec"]["containers"][0]["args"]).join(" "),
        "serve --listen 0.0.0.0:8090 --max-conns 1000"
    );

    let host = Kube {
        host_network: true,
        ..k
    };
    let d = docs(&self::server(&host, &server).unwrap().text);
    let pod = &d[1]["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert!(pod.get("securityContext").is_none());
    let mut s = spec("s:8090-8094", 100_000, 1);
    s.kube = host;
    let m = job(&s).unwrap();
    assert!(
        docs(&m.text)[1]["spec"]["template"]["spec"]
            .get("securityContext")
            .is_none()
    );
    assert!(m.text.contains(
        "# Node-level with hostNetwork: set net.ipv4.ip_local_port_range=1024 65535 on the node"
    ));
    // The node's range is assumed to be the kernel's default: 28,232.
    assert_eq!(client_local_ports(&s.kube), 28_232);
}

#[test]
fn names_and_quantities_are_checked() {
    let ok = Kube::default();
    assert_eq!(check_kube(&ok), Ok(()));
    for bad in [
        Kube {
            name: "C1M".into(),
            ..ok.clone()
        },
        Kube {
            name: "-c1m".into(),
            ..ok.clone()
        },
        Kube {
            name: "a".repeat(41),
            ..ok.clone()
        },
        Kube {
            namespace: Some("a_b".into()),
            ..ok.clone()
        },
        Kube {
            cpu: "1 core".into(),
            ..ok.clone()
        },
        Kube {
            cpu: "0".into(),
            ..ok.clone()
        },
        Kube {
            memory: Some("4GB".into()),
            ..ok.clone()
        },
        Kube {
            port_range: (2000, 1999),
            ..ok.clone()
        },
        Kube {
            image: "a b".into(),
            ..ok.clone()
        },
    ] {
        assert!(check_kube(&bad).is_err(), "{bad:?}");
    }
    for (cpu, memory) in [("500m", "4Gi"), ("2.5", "512Mi"), ("1", "1000M")] {
        let k = Kube {
            cpu: cpu.into(),
            memory: Some(memory.into()),
            ..ok.clone()
        };
        assert_eq!(check_kube(&k), Ok(()), "{cpu} {memory}");
    }
}

#[test]
fn server_ports_keep_each_pair_within_the_budget() {
    // 10M over 10 pods: 1,000,000 per pod / 32,256 per pair = 32 ports.
    let l = load("x:1", 10_000_000, 10);
    let s = Server::for_load(&l, 8090, 64_512).unwrap();
    assert_eq!(s.ports, (8090, 8121));
    assert_eq!(s.max_conns, 10_000_000);
    assert_eq!(s.target(&Kube::default()).as_str(), "c1m-server:8090-8121");
    assert_eq!(
        Server::for_load(&load("x:1", 10, 1), 8090, 64_512)
            .unwrap()
            .ports,
        (8090, 8090)
    );
    assert!(Server::for_load(&l, 65_530, 64_512).is_err());
}
