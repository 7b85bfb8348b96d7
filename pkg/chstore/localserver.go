package chstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// LocalServer is a clickhouse-server process on loopback with its own data
// folder, for tests and benchmarks. Nothing listens beyond 127.0.0.1.
type LocalServer struct {
	cmd  *exec.Cmd
	Port int // native protocol
	done chan error
	// What Restart starts again: the same binary, configuration, folder
	// and ports.
	bin  string
	args []string
	dir  string
}

// ServerBinary finds clickhouse-server (Debian's package installs it in
// /usr/sbin, or the single "clickhouse" binary of newer releases).
func ServerBinary() (path string, args []string, ok bool) {
	for _, c := range []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil, true
		}
	}
	if p, err := exec.LookPath("clickhouse"); err == nil {
		return p, []string{"server"}, true
	}
	return "", nil, false
}

const serverConfig = `<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>%[1]s/server.log</log><errorlog>%[1]s/server.err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%[2]d</tcp_port>
    <http_port>%[3]d</http_port>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/data/tmp/</tmp_path>
    <user_files_path>%[1]s/data/user_files/</user_files_path>
    <format_schema_path>%[1]s/data/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
`

const usersConfig = `<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>8000000000</max_memory_usage></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
`

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StartLocalServer starts clickhouse-server with its data in dir and waits
// until it answers.
func StartLocalServer(dir string) (*LocalServer, error) {
	bin, args, ok := ServerBinary()
	if !ok {
		return nil, errors.New("chstore: clickhouse-server is not installed (Debian: apt-get install clickhouse-server)")
	}
	tcp, err := freePort()
	if err != nil {
		return nil, err
	}
	http, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(abs, "config.xml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, serverConfig, abs, tcp, http), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(abs, "users.xml"), []byte(usersConfig), 0o644); err != nil {
		return nil, err
	}
	s := &LocalServer{Port: tcp, bin: bin, args: append(args, "--config-file="+cfg), dir: abs}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// start runs the server and waits until it answers.
func (s *LocalServer) start() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	out, err := os.OpenFile(filepath.Join(s.dir, "stdout.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("chstore: start %s: %w", s.bin, err)
	}
	s.cmd, s.done = cmd, make(chan error, 1)
	done := s.done
	go func() { done <- cmd.Wait(); out.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{"127.0.0.1:" + strconv.Itoa(s.Port)}, DialTimeout: time.Second})
		if err == nil {
			err = conn.Ping(context.Background())
			conn.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case werr := <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.err.log"))
			done <- werr
			return fmt.Errorf("chstore: clickhouse-server exited: %v\n%s", werr, tail(log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("chstore: clickhouse-server did not answer on port %d within 60 s: %w", s.Port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill kills the server with SIGKILL (a crash, mid-insert or not) and
// waits for it to go.
func (s *LocalServer) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	err := <-s.done
	s.done <- err
}

// Restart starts the server again after Kill or Stop, on the same folder
// and ports.
func (s *LocalServer) Restart() error { return s.start() }

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// DSN is the server's address with a database.
func (s *LocalServer) DSN(database string) string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", s.Port, database)
}

// Stop stops the server and waits for it.
func (s *LocalServer) Stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	var err error
	select {
	case err = <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		err = <-s.done
	}
	s.done <- err // a second Stop or Kill returns at once
}
