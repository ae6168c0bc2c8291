//! Files and directories that may hold personal data: created readable by the owner only,
//! and written atomically (to a temporary name, then renamed) so a reader never sees half.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Creates `dir` and its missing parents, owner-only (0700) on Unix.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates (or truncates) `path` for writing, owner-only (0600) on Unix.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    // An existing file keeps its mode on open; make sure it is owner-only too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// A file written under a temporary name and renamed into place by [`AtomicFile::commit`];
/// dropped without commit, the temporary file is removed.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `target` (owner-only).
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        let temp = target.with_file_name(name);
        // A fresh file, never an existing one: a leftover of a killed run is removed, and a
        // symlink planted under the temporary name is removed rather than followed (opening
        // it would truncate and chmod whatever it points to).
        let _ = fs::remove_file(&temp);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&temp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        Ok(AtomicFile {
            target: target.to_owned(),
            temp,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer
            .as_mut()
            .expect("writer is present until commit")
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let writer = self.writer.take().expect("commit is called once");
        let file = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&self.temp, &self.target)?;
        Ok(self.target.clone())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Where a user-named output goes: `-` is stdout; an existing file that is not a regular
/// file (a FIFO, `/dev/null`, a terminal) is written in place; anything else is written
/// atomically and owner-only through [`AtomicFile`], never left half-written.
#[derive(Debug)]
pub enum OutputFile {
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// A FIFO or device, opened for writing.
    Special(PathBuf, BufWriter<File>),
    /// A regular file, renamed into place on commit.
    Regular(AtomicFile),
}

impl OutputFile {
    /// Opens `path` as described on [`OutputFile`].
    pub fn create(path: &Path) -> io::Result<OutputFile> {
        if path.as_os_str() == "-" {
            return Ok(OutputFile::Stdout(BufWriter::new(io::stdout())));
        }
        match fs::metadata(path) {
            Ok(meta) if !meta.is_file() && !meta.is_dir() => {
                let file = fs::OpenOptions::new().write(true).open(path)?;
                Ok(OutputFile::Special(path.to_owned(), BufWriter::new(file)))
            }
            _ => AtomicFile::create(path).map(OutputFile::Regular),
        }
    }

    /// Whether this writes to standard output.
    pub fn is_stdout(&self) -> bool {
        matches!(self, OutputFile::Stdout(_))
    }

    /// Flushes and, for a regular file, moves it into place; returns the path written.
    pub fn commit(self) -> io::Result<PathBuf> {
        match self {
            OutputFile::Stdout(mut w) => w.flush().map(|()| PathBuf::from("-")),
            OutputFile::Special(path, mut w) => w.flush().map(|()| path),
            OutputFile::Regular(file) => file.commit(),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            OutputFile::Stdout(w) => w.write(buf),
            OutputFile::Special(_, w) => w.write(buf),
            OutputFile::Regular(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            OutputFile::Stdout(w) => w.flush(),
            OutputFile::Special(_, w) => w.flush(),
            OutputFile::Regular(f) => f.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_private_dir(&sub).unwrap();
        assert_eq!(
            fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let path = sub.join("report.csv");
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"x").unwrap();
        assert!(!path.exists());
        file.commit().unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read(&path).unwrap(), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_under_the_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("r.csv");
        std::os::unix::fs::symlink(&victim, dir.path().join("r.csv.tmp")).unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"report").unwrap();
        file.commit().unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&path).unwrap(), b"report");
        assert!(!fs::symlink_metadata(&path).unwrap().is_symlink());
    }

    #[test]
    fn dropped_atomic_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        drop(AtomicFile::create(&path).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
