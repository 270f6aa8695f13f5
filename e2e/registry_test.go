package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// registry is a real distribution registry (Debian's docker-registry) on
// 127.0.0.1, storing into a temporary directory.
type registry struct {
	host string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	log  *os.File
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startRegistry(dir string) (*registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (apt-get install docker-registry): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &registry{host: host, cmd: cmd, log: logf}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("registry on %s did not answer: %w", host, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *registry) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
	if r.log != nil {
		_ = r.log.Close()
	}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// pushBlob uploads b with a monolithic POST+PUT.
func (r *registry) pushBlob(repo string, b []byte) (string, error) {
	dgst := digestOf(b)
	resp, err := http.Post("http://"+r.host+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return "", err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("starting upload to %s: %s", repo, resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = "http://" + r.host + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(http.MethodPut, loc+sep+"digest="+dgst, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("uploading blob to %s: %s", repo, resp.Status)
	}
	return dgst, nil
}

func (r *registry) pushManifest(repo, ref, mediaType string, b []byte) error {
	req, err := http.NewRequest(http.MethodPut, "http://"+r.host+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("pushing manifest %s:%s: %s %s", repo, ref, resp.Status, body)
	}
	return nil
}

const (
	mediaOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mediaOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mediaOCILayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type descriptor struct {
	MediaType string            `json:"mediaType"`
	Digest    string            `json:"digest"`
	Size      int64             `json:"size"`
	Platform  *platform         `json:"platform,omitempty"`
	Annots    map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Env        []string          `json:"Env"`
		Cmd        []string          `json:"Cmd"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
		User       string            `json:"User"`
	} `json:"config"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// busyboxLayer is one gzip layer: the busybox binary at path with every
// applet linked, /tmp, /etc/passwd and /etc/group.
func busyboxLayer(path string) ([]byte, []byte, error) {
	bb, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("busybox-static is not installed (apt-get install busybox-static): %w", err)
	}
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return nil, nil, err
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	mtime := time.Unix(0, 0)
	dirs := []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"etc/", 0o755}, {"tmp/", 0o1777}, {"root/", 0o700}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: mtime}); err != nil {
			return nil, nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), ModTime: mtime}); err != nil {
		return nil, nil, err
	}
	if _, err := tw.Write(bb); err != nil {
		return nil, nil, err
	}
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			return nil, nil, err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for _, name := range []string{"etc/group", "etc/passwd"} {
		c := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(c)), ModTime: mtime}); err != nil {
			return nil, nil, err
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			return nil, nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	return raw.Bytes(), gz.Bytes(), nil
}

// busyboxArm64 is Debian's arm64 busybox-static, prepared by
// hack/test-emulators; empty when multi-platform testing is not set up.
func busyboxArm64() string { return os.Getenv("DOCKER_BUILD2_TEST_BUSYBOX_ARM64") }

// pushBusybox pushes a busybox image under each "repo:tag" name: an index
// of amd64 and arm64 when the arm64 binary is there, else amd64 only.
func pushBusybox(r *registry, names ...string) error {
	arches := map[string]string{"amd64": "/bin/busybox"}
	if p := busyboxArm64(); p != "" {
		arches["arm64"] = p
	}
	for _, name := range names {
		repo, tag, _ := strings.Cut(name, ":")
		var index []descriptor
		for _, arch := range []string{"amd64", "arm64"} {
			path, ok := arches[arch]
			if !ok {
				continue
			}
			d, err := pushBusyboxManifest(r, repo, arch, path)
			if err != nil {
				return err
			}
			index = append(index, d)
		}
		if len(index) == 1 {
			b, err := r.getRaw(repo, index[0].Digest)
			if err != nil {
				return err
			}
			if err := r.pushManifest(repo, tag, mediaOCIManifest, b); err != nil {
				return err
			}
			continue
		}
		idx, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaOCIIndex, "manifests": index})
		if err != nil {
			return err
		}
		if err := r.pushManifest(repo, tag, mediaOCIIndex, idx); err != nil {
			return err
		}
	}
	return nil
}

func pushBusyboxManifest(r *registry, repo, arch, path string) (descriptor, error) {
	raw, gz, err := busyboxLayer(path)
	if err != nil {
		return descriptor{}, err
	}
	return pushLayerImage(r, repo, arch, digestOf(raw), gz, []string{"sh"})
}

// pushRootfs pushes a gzip tarball of a root file system as a one-layer
// amd64 image repo:tag.
func pushRootfs(r *registry, repo, tag, path string) error {
	gz, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	d, err := pushLayerImage(r, repo, "amd64", "sha256:"+hex.EncodeToString(h.Sum(nil)), gz, []string{"bash"})
	if err != nil {
		return err
	}
	b, err := r.getRaw(repo, d.Digest)
	if err != nil {
		return err
	}
	return r.pushManifest(repo, tag, mediaOCIManifest, b)
}

// pushLayerImage pushes an image of one gzip layer whose uncompressed
// digest is diffID, by digest, and returns its manifest's descriptor.
func pushLayerImage(r *registry, repo, arch, diffID string, gz []byte, cmd []string) (descriptor, error) {
	cfg := map[string]any{
		"architecture": arch,
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": cmd,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return descriptor{}, err
	}
	layerDgst, err := r.pushBlob(repo, gz)
	if err != nil {
		return descriptor{}, err
	}
	cfgDgst, err := r.pushBlob(repo, cfgJSON)
	if err != nil {
		return descriptor{}, err
	}
	m := manifest{
		SchemaVersion: 2,
		MediaType:     mediaOCIManifest,
		Config:        descriptor{MediaType: mediaOCIConfig, Digest: cfgDgst, Size: int64(len(cfgJSON))},
		Layers:        []descriptor{{MediaType: mediaOCILayerGz, Digest: layerDgst, Size: int64(len(gz))}},
	}
	mJSON, err := json.Marshal(m)
	if err != nil {
		return descriptor{}, err
	}
	dgst := digestOf(mJSON)
	if err := r.pushManifest(repo, dgst, mediaOCIManifest, mJSON); err != nil {
		return descriptor{}, err
	}
	return descriptor{MediaType: mediaOCIManifest, Digest: dgst, Size: int64(len(mJSON)), Platform: &platform{Architecture: arch, OS: "linux"}}, nil
}
