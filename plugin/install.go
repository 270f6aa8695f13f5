package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/sys/atomicwriter"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// builderAliasKey is the key of config.json's "aliases" that makes the docker
// CLI hand `docker build`, `docker image build` and `docker builder` to a
// plugin.
const builderAliasKey = "builder"

type installOptions struct {
	force bool
}

func newInstallCommand(dockerCLI command.Cli) *cobra.Command {
	var opts installOptions
	cmd := &cobra.Command{
		Use:   "install",
		Short: `Make "docker build" use docker-build2 (sets aliases.builder in the docker config)`,
		Args:  cli.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return runInstall(dockerCLI.Out(), configPath(dockerCLI), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.force, "force", false, "Replace a builder alias that points to another plugin")
	return cmd
}

func newUninstallCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall",
		Short: `Give "docker build" back to the default builder (removes aliases.builder)`,
		Args:  cli.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return runUninstall(dockerCLI.Out(), configPath(dockerCLI))
		},
	}
}

func configPath(dockerCLI command.Cli) string {
	return dockerCLI.ConfigFile().Filename
}

func runInstall(out io.Writer, path string, opts installOptions) error {
	return editAliases(path, func(aliases map[string]string) (bool, error) {
		switch cur := aliases[builderAliasKey]; {
		case cur == Name:
			fmt.Fprintf(out, "docker build already uses docker-build2 (%s)\n", path)
			return false, nil
		case cur != "" && !opts.force:
			return false, fmt.Errorf("%s: aliases.builder is already %q: run \"docker build2 install --force\" to replace it", path, cur)
		}
		aliases[builderAliasKey] = Name
		fmt.Fprintf(out, "docker build now uses docker-build2 (aliases.builder in %s)\n", path)
		return true, nil
	})
}

func runUninstall(out io.Writer, path string) error {
	return editAliases(path, func(aliases map[string]string) (bool, error) {
		switch cur := aliases[builderAliasKey]; cur {
		case "":
			fmt.Fprintf(out, "docker build does not use docker-build2: nothing to do (%s)\n", path)
			return false, nil
		case Name:
		default:
			fmt.Fprintf(out, "aliases.builder is %q, not docker-build2: left unchanged (%s)\n", cur, path)
			return false, nil
		}
		delete(aliases, builderAliasKey)
		fmt.Fprintf(out, "docker build uses the default builder again (%s)\n", path)
		return true, nil
	})
}

// editAliases reads config.json's "aliases", lets edit change them, and
// writes the file back, every other key untouched, when edit says it
// changed something.
func editAliases(path string, edit func(map[string]string) (bool, error)) error {
	cfg, mode, err := readRawConfig(path)
	if err != nil {
		return err
	}
	aliases, err := rawAliases(path, cfg)
	if err != nil {
		return err
	}
	changed, err := edit(aliases)
	if err != nil || !changed {
		return err
	}
	if err := setRawAliases(cfg, aliases); err != nil {
		return err
	}
	return writeRawConfig(path, cfg, mode)
}

// readRawConfig reads config.json keeping every key as it is, so that an edit
// touches only "aliases". A missing file is an empty object.
func readRawConfig(path string) (map[string]json.RawMessage, os.FileMode, error) {
	cfg := map[string]json.RawMessage{}
	dt, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, 0o600, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading docker config: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if len(bytes.TrimSpace(dt)) == 0 {
		return cfg, st.Mode().Perm(), nil
	}
	if err := json.Unmarshal(dt, &cfg); err != nil {
		return nil, 0, fmt.Errorf("%s: not valid JSON (%w): fix or remove the file", path, err)
	}
	return cfg, st.Mode().Perm(), nil
}

func rawAliases(path string, cfg map[string]json.RawMessage) (map[string]string, error) {
	aliases := map[string]string{}
	if raw, ok := cfg["aliases"]; ok {
		if err := json.Unmarshal(raw, &aliases); err != nil {
			return nil, fmt.Errorf("%s: key \"aliases\" must be an object of strings: %w", path, err)
		}
		if aliases == nil {
			aliases = map[string]string{}
		}
	}
	return aliases, nil
}

func setRawAliases(cfg map[string]json.RawMessage, aliases map[string]string) error {
	if len(aliases) == 0 {
		delete(cfg, "aliases")
		return nil
	}
	dt, err := json.Marshal(aliases)
	if err != nil {
		return err
	}
	cfg["aliases"] = dt
	return nil
}

// writeRawConfig replaces path atomically, keeping its file mode.
func writeRawConfig(path string, cfg map[string]json.RawMessage, mode os.FileMode) error {
	dt, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating docker config directory: %w", err)
	}
	// Through a symlinked config.json to the file it names, as docker
	// saves its config.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if err := atomicwriter.WriteFile(path, append(dt, '\n'), mode); err != nil {
		return fmt.Errorf("writing docker config: %w", err)
	}
	return nil
}
