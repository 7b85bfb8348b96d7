// Command validate checks Inflow's deploy files where Docker and a cluster
// are not at hand: every Kubernetes manifest decodes strictly into its
// Kubernetes API type and holds to the deployment's rules, the compose
// file loads with compose-go (the library docker compose itself uses), and
// the Dockerfiles build static binaries into images that run as non-root.
// It is a module of its own so that the Kubernetes and compose libraries
// stay out of the product's go.mod.
//
//	cd deploy/validate && go run . ..
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	dir := ".."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	n := checkKubernetes(filepath.Join(dir, "k8s"), report)
	fmt.Printf("k8s: %d objects decoded strictly\n", n)
	if err := checkCompose(filepath.Join(dir, "compose", "compose.yaml")); err != nil {
		report("compose: %v", err)
	} else {
		fmt.Println("compose: compose.yaml loads")
	}
	m := checkDockerfiles(filepath.Join(dir, "docker"), report)
	fmt.Printf("docker: %d Dockerfiles checked\n", m)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "FAIL:", p)
		}
		os.Exit(1)
	}
	fmt.Println("deploy files: OK")
}

// object is a decoded manifest with where it came from.
type object struct {
	file, kind, name string
	v                any
}

func newObject(apiVersion, kind string) (any, bool) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, true
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/Secret":
		return &corev1.Secret{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	}
	return nil, false
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

func checkKubernetes(dir string, report func(string, ...any)) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		report("k8s: no manifests in %s", dir)
		return 0
	}
	var objs []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			report("%s: %v", f, err)
			continue
		}
		for i, doc := range docSep.Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			j, err := yaml.YAMLToJSONStrict([]byte(doc))
			if err != nil {
				report("%s document %d: %v", f, i+1, err)
				continue
			}
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			json.Unmarshal(j, &meta)
			v, ok := newObject(meta.APIVersion, meta.Kind)
			if !ok {
				report("%s document %d: %s %s is not a kind this deployment uses", f, i+1, meta.APIVersion, meta.Kind)
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(j))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				report("%s %s/%s: %v", f, meta.Kind, meta.Metadata.Name, err)
				continue
			}
			if _, err := dec.Token(); !errors.Is(err, io.EOF) {
				report("%s %s/%s: trailing data", f, meta.Kind, meta.Metadata.Name)
			}
			if meta.Kind != "Namespace" && meta.Metadata.Namespace != "inflow" {
				report("%s %s/%s: namespace %q, want inflow", f, meta.Kind, meta.Metadata.Name, meta.Metadata.Namespace)
			}
			objs = append(objs, object{file: filepath.Base(f), kind: meta.Kind, name: meta.Metadata.Name, v: v})
		}
	}
	checkRules(objs, report)
	return len(objs)
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// checkRules holds the manifests to the deployment's rules: ledgerd and the
// indexer are StatefulSets with volumes (ledgerd a single replica), apid a
// Deployment with an HPA and a PDB; every container runs as non-root on a
// read-only root with no capabilities, with probes and resource requests;
// ledgerd's port takes only apid and Prometheus.
func checkRules(objs []object, report func(string, ...any)) {
	find := func(kind, name string) any {
		for _, o := range objs {
			if o.kind == kind && o.name == name {
				return o.v
			}
		}
		return nil
	}
	pods := map[string]*corev1.PodTemplateSpec{}
	for _, name := range []string{"ledgerd", "indexer"} {
		ss, _ := find("StatefulSet", name).(*appsv1.StatefulSet)
		if ss == nil {
			report("no StatefulSet %s", name)
			continue
		}
		if len(ss.Spec.VolumeClaimTemplates) == 0 {
			report("StatefulSet %s has no volume", name)
		}
		if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 {
			report("StatefulSet %s: one replica (a single writer)", name)
		}
		pods[name] = &ss.Spec.Template
	}
	if d, _ := find("Deployment", "apid").(*appsv1.Deployment); d == nil {
		report("no Deployment apid")
	} else {
		pods["apid"] = &d.Spec.Template
	}
	if h, _ := find("HorizontalPodAutoscaler", "apid").(*autoscalingv2.HorizontalPodAutoscaler); h == nil || h.Spec.ScaleTargetRef.Name != "apid" || h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
		report("apid needs an HPA on its Deployment with at least 2 replicas")
	}
	if p, _ := find("PodDisruptionBudget", "apid").(*policyv1.PodDisruptionBudget); p == nil || p.Spec.Selector == nil || p.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "apid" {
		report("apid needs a PodDisruptionBudget")
	}
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t := pods[name]
		if t.Labels["app.kubernetes.io/name"] != name {
			report("%s: pod label app.kubernetes.io/name=%s missing", name, name)
		}
		psc := t.Spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			report("%s: the pod must run as a non-root user", name)
		}
		if t.Spec.AutomountServiceAccountToken == nil || *t.Spec.AutomountServiceAccountToken {
			report("%s: no service account token is needed; do not mount one", name)
		}
		for _, c := range t.Spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 || sc.Capabilities.Drop[0] != "ALL" {
				report("%s/%s: read-only root, no privilege escalation, all capabilities dropped", name, c.Name)
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				report("%s/%s: needs readiness and liveness probes", name, c.Name)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				report("%s/%s: needs CPU and memory requests and a memory limit", name, c.Name)
			}
			if strings.Contains(strings.Join(c.Args, " "), "--internal-token=") || strings.Contains(strings.Join(c.Args, " "), "--admin-key=") {
				report("%s/%s: a secret on the command line; use the -file flags", name, c.Name)
			}
		}
	}
	// ledgerd's internal API: only apid (and Prometheus, for /metrics on
	// the same port), under a default deny.
	deny, _ := find("NetworkPolicy", "default-deny-ingress").(*networkingv1.NetworkPolicy)
	if deny == nil || len(deny.Spec.PodSelector.MatchLabels) != 0 || len(deny.Spec.Ingress) != 0 {
		report("no default-deny ingress NetworkPolicy")
	}
	lp, _ := find("NetworkPolicy", "ledgerd-from-apid").(*networkingv1.NetworkPolicy)
	if lp == nil || lp.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "ledgerd" || len(lp.Spec.Ingress) != 1 {
		report("ledgerd needs one NetworkPolicy ingress rule")
		return
	}
	for _, peer := range lp.Spec.Ingress[0].From {
		if peer.IPBlock != nil || peer.PodSelector == nil {
			report("ledgerd's NetworkPolicy admits a peer by address or every pod of a namespace")
			continue
		}
		app := peer.PodSelector.MatchLabels["app.kubernetes.io/name"]
		if app == "apid" && peer.NamespaceSelector == nil || app == "prometheus" && peer.NamespaceSelector != nil {
			continue
		}
		report("ledgerd's NetworkPolicy admits %v", peer.PodSelector.MatchLabels)
	}
}

func checkCompose(path string) error {
	// The secret files are the operator's (not committed): load a copy of
	// the folder with stand-ins, as an operator's would be.
	tmp, err := os.MkdirTemp("", "inflow-compose")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Dir(path)
	dst := filepath.Join(tmp, "deploy", "compose")
	if err := copyTree(src, dst); err != nil {
		return err
	}
	if err := copyTree(filepath.Join(src, "..", "observability"), filepath.Join(tmp, "deploy", "observability")); err != nil {
		return err
	}
	for _, s := range []string{"internal_token", "admin_key", "console_secret"} {
		if err := os.WriteFile(filepath.Join(dst, "secrets", s), []byte("stand-in-secret-of-32-characters!"), 0o600); err != nil {
			return err
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dst, "compose.yaml")}, cli.WithOsEnv, cli.WithWorkingDirectory(dst))
	if err != nil {
		return err
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return err
	}
	want := []string{"apid-a", "apid-b", "clickhouse", "grafana", "indexer", "ledgerd", "prometheus", "redpanda"}
	var got []string
	for name := range p.Services {
		got = append(got, name)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		return fmt.Errorf("services %v, want %v", got, want)
	}
	for _, name := range []string{"indexer", "ledgerd", "apid-a", "apid-b"} {
		svc := p.Services[name]
		if !svc.ReadOnly {
			return fmt.Errorf("%s: read_only root filesystem", name)
		}
		for _, port := range svc.Ports {
			if port.HostIP != "127.0.0.1" {
				return fmt.Errorf("%s publishes port %d on %q: publish on 127.0.0.1 and put a proxy in front", name, port.Target, port.HostIP)
			}
		}
	}
	for _, c := range p.Configs {
		if _, err := os.Stat(c.File); err != nil {
			return fmt.Errorf("config %s: %v", c.Name, err)
		}
	}
	return nil
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
}

// checkDockerfiles: a build stage that builds with CGO_ENABLED=0, and a
// last stage from a distroless static image, as a numeric non-root user.
func checkDockerfiles(dir string, report func(string, ...any)) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.Dockerfile"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			report("%s: %v", f, err)
			continue
		}
		var stages [][]string
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
				stages = append(stages, nil)
			}
			if len(stages) == 0 {
				report("%s: an instruction before FROM: %s", f, l)
				continue
			}
			stages[len(stages)-1] = append(stages[len(stages)-1], l)
		}
		if len(stages) < 2 {
			report("%s: a build stage and a runtime stage", f)
			continue
		}
		build, last := strings.Join(stages[0], "\n"), stages[len(stages)-1]
		if !strings.Contains(build, "CGO_ENABLED=0 go build") {
			report("%s: the binary must be static (CGO_ENABLED=0 go build)", f)
		}
		if !strings.HasPrefix(last[0], "FROM gcr.io/distroless/static") {
			report("%s: the runtime stage is %q, want a distroless static image", f, last[0])
		}
		user := ""
		for _, l := range last {
			if strings.HasPrefix(l, "USER ") {
				user = strings.TrimSpace(strings.TrimPrefix(l, "USER "))
			}
			if strings.HasPrefix(l, "RUN ") {
				report("%s: RUN in the runtime stage (it has no shell)", f)
			}
		}
		if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" || strings.Trim(u, "0123456789") != "" {
			report("%s: the runtime stage must set a numeric non-root USER (has %q)", f, user)
		}
	}
	if len(files) != 3 {
		report("docker: %d Dockerfiles, want indexer, ledgerd and apid", len(files))
	}
	return len(files)
}
