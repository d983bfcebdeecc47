package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// slotName is what a replication slot may be called.
var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// StartStandby starts a streaming standby of primary in opt.DataDir: on
// first use it creates the physical replication slot slot on primary (so the
// primary keeps the WAL the standby has not received, however far behind it
// falls) and copies the primary with pg_basebackup -R, which also writes the
// standby's connection to it; then it starts the copy, which PostgreSQL runs
// as a read-only hot standby replaying the primary's WAL. Later starts on
// the same DataDir only start it again.
//
// The primary must allow replication connections from 127.0.0.1: a cluster
// made by Start does (initdb's trust rules include replication).
func StartStandby(ctx context.Context, primary *Server, slot string, opt Options) (*Server, error) {
	if !slotName.MatchString(slot) {
		return nil, fmt.Errorf("pglocal: replication slot %q: use 1 to 63 lower-case letters, digits and underscores", slot)
	}
	if opt.DataDir == "" {
		return nil, errors.New("pglocal: Options.DataDir is required")
	}
	dataDir, err := filepath.Abs(opt.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if dataDir, _, err = prepareDataDir(dataDir, acct); err != nil {
		return nil, err
	}
	major, err := clusterVersion(filepath.Join(dataDir, "pgdata"))
	if err != nil {
		return nil, err
	}
	if major == "" {
		if err := baseBackup(ctx, primary, slot, dataDir, acct); err != nil {
			return nil, err
		}
	}
	opt.DataDir = dataDir
	return Start(ctx, opt)
}

// baseBackup creates slot on primary and copies primary into dataDir/pgdata
// as a standby streaming from that slot.
func baseBackup(ctx context.Context, primary *Server, slot, dataDir string, acct *account) error {
	conn, err := pgx.Connect(ctx, primary.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: connect to the primary: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1)
		WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, slot); err != nil {
		return fmt.Errorf("pglocal: create replication slot %s: %w", slot, err)
	}
	var version string
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')`).Scan(&version); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	n, _ := strconv.Atoi(version)
	bin, err := findBinaries(strconv.Itoa(n / 10000))
	if err != nil {
		return err
	}
	scratch := filepath.Join(dataDir, "pgdata.basebackup")
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin.path("pg_basebackup"),
		"-d", fmt.Sprintf("host=127.0.0.1 port=%d user=%s", primary.Port(), Superuser),
		"-D", scratch, "-R", "-S", slot, "-X", "stream", "--checkpoint=fast", "--no-sync")
	cmd.Dir = dataDir
	cmd.Env = childEnv()
	cmd.SysProcAttr = procAttr(acct)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(scratch)
		return fmt.Errorf("pglocal: pg_basebackup failed: %v\n%s", err, out)
	}
	// The primary's pid file is not copied, but its log settings are; the
	// standby logs where Start tells it to.
	if err := os.Rename(scratch, filepath.Join(dataDir, "pgdata")); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	return nil
}

// DropSlot removes a standby's replication slot from the primary, so that
// the primary stops keeping WAL for a standby that is gone for good.
func (s *Server) DropSlot(ctx context.Context, slot string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
	return err
}
