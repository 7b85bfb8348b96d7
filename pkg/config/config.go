// Package config is what every daemon's typed Config shares: durations
// written as "30s" in JSON files, strict loading of a file over defaults, and
// the logger every command makes from its log level.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Duration is a time.Duration written as "1.5s" in configuration files.
type Duration time.Duration

// UnmarshalJSON parses "250ms", "2s", "30m"…
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Load reads a JSON file into cfg, which holds the defaults; unknown fields
// are an error, so a typo never passes silently.
func Load(path string, cfg any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Logger makes the text logger of a command; an unknown level is info.
func Logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// MinSecretLen is the shortest shared secret a daemon accepts.
const MinSecretLen = 16

// Secret resolves a secret a daemon takes: the flag's value, else the
// contents of the file flag names (trailing newlines trimmed), else the
// environment variable. A secret on the command line is visible to every
// user of the machine (ps), so the file and the environment are the ways to
// give one in production. An empty result means none was given.
func Secret(value, file, env string) (string, error) {
	if value != "" && file != "" {
		return "", fmt.Errorf("config: give the secret or its file, not both")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("config: secret file: %w", err)
		}
		value = string(bytes.TrimRight(b, "\r\n"))
		if value == "" {
			return "", fmt.Errorf("config: secret file %s is empty", file)
		}
	}
	if value == "" {
		value = os.Getenv(env)
	}
	if value != "" && len(value) < MinSecretLen {
		return "", fmt.Errorf("config: a secret has at least %d characters", MinSecretLen)
	}
	return value, nil
}
