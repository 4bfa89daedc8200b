//! The byte streams the signature reader walks: a kernel file that skips by seeking (a
//! stored zip entry, a plain file) or by reading (a deflated entry), and the read-ahead
//! buffer every walk goes through, so thousands of small CBOR items cost a few large
//! reads rather than a read and a seek each.

use std::io::{self, Read};

/// What one signature read asks the kernel file for at a time. Large enough that the
/// small items between machine code arrive in a few reads (llama-min's four kernels hold
/// 23,000 of them: 23,000 reads and seeks unbuffered), small enough to be a fixed cost
/// whatever a file claims about its size.
pub(super) const READ_AHEAD: usize = 64 << 10;

/// A byte stream that can skip ahead cheaply when its source allows it.
pub trait SkipRead: Read {
    /// Skip exactly `n` bytes; an error if the stream ends first.
    fn skip_bytes(&mut self, n: u64) -> io::Result<()>;
}

/// Skips by reading into a sink, for compressed or non-seekable streams.
pub struct Sequential<R>(pub R);

impl<R: Read> Read for Sequential<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> SkipRead for Sequential<R> {
    fn skip_bytes(&mut self, n: u64) -> io::Result<()> {
        let copied = io::copy(&mut (&mut self.0).take(n), &mut io::sink())?;
        if copied < n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// Skips by seeking, for stored zip entries and plain files. `len` bounds the stream, so
/// a seek never lands past its end unnoticed.
pub struct Seekable<R> {
    inner: R,
    remaining: u64,
}

impl<R> Seekable<R> {
    pub fn new(inner: R, len: u64) -> Self {
        Seekable {
            inner,
            remaining: len,
        }
    }
}

impl<R: Read> Read for Seekable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

impl<R: Read + io::Seek> SkipRead for Seekable<R> {
    fn skip_bytes(&mut self, n: u64) -> io::Result<()> {
        if n > self.remaining {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let offset = i64::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        self.inner.seek(io::SeekFrom::Current(offset))?;
        self.remaining -= n;
        Ok(())
    }
}

/// A read-ahead buffer over a [`SkipRead`]. Reads and skips inside the buffer cost
/// nothing; a skip past it by at least a buffer's worth goes to the inner stream (a seek
/// over machine code, for a stored entry); a shorter one is read through, one read
/// instead of a seek and then a read. It may read up to a buffer past what its caller
/// consumes, so it is for streams whose end is the end of what is being read.
pub(super) struct ReadAhead<'a> {
    inner: &'a mut dyn SkipRead,
    buf: Vec<u8>,
    /// The unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
}

impl<'a> ReadAhead<'a> {
    /// A buffer of `capacity` bytes (at least one).
    pub(super) fn new(inner: &'a mut dyn SkipRead, capacity: usize) -> Self {
        ReadAhead {
            inner,
            buf: vec![0; capacity.max(1)],
            pos: 0,
            end: 0,
        }
    }

    /// The next `N` bytes, left unread, when the buffer holds them.
    #[inline]
    pub(super) fn peek<const N: usize>(&self) -> Option<[u8; N]> {
        self.buf[self.pos..self.end].first_chunk::<N>().copied()
    }

    /// Mark `n` bytes [`ReadAhead::peek`] returned as read.
    #[inline]
    pub(super) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.pos);
        self.pos += n;
    }

    /// Refill the (consumed) buffer; the bytes now in it, 0 at the end of the stream.
    fn fill(&mut self) -> io::Result<usize> {
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.pos = 0;
        self.end = n;
        Ok(n)
    }
}

impl Read for ReadAhead<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            // Nothing to gain from copying a read as large as the buffer through it.
            if out.len() >= self.buf.len() {
                return self.inner.read(out);
            }
            if self.fill()? == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl SkipRead for ReadAhead<'_> {
    fn skip_bytes(&mut self, n: u64) -> io::Result<()> {
        let buffered = self.end - self.pos;
        if let Ok(n) = usize::try_from(n)
            && n <= buffered
        {
            self.pos += n;
            return Ok(());
        }
        let mut rest = n - buffered as u64;
        self.pos = self.end;
        if rest >= self.buf.len() as u64 {
            return self.inner.skip_bytes(rest);
        }
        while rest > 0 {
            let got = self.fill()?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            // `rest` is below the buffer's length here, so it fits a usize.
            let taken = got.min(rest as usize);
            self.pos = taken;
            rest -= taken as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what reaches the source: reads, and seeks with their lengths.
    struct Counting<'a> {
        inner: Seekable<io::Cursor<&'a [u8]>>,
        reads: usize,
        skips: Vec<u64>,
    }

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            self.inner.read(buf)
        }
    }

    impl SkipRead for Counting<'_> {
        fn skip_bytes(&mut self, n: u64) -> io::Result<()> {
            self.skips.push(n);
            self.inner.skip_bytes(n)
        }
    }

    #[test]
    fn small_steps_are_served_from_the_buffer_and_long_skips_seek() {
        let data: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        let mut source = Counting {
            inner: Seekable::new(io::Cursor::new(&data[..]), data.len() as u64),
            reads: 0,
            skips: Vec::new(),
        };
        let mut stream = ReadAhead::new(&mut source, 16);
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).expect("read");
        assert_eq!(byte[0], 0);
        stream.skip_bytes(3).expect("in the buffer");
        stream.read_exact(&mut byte).expect("read");
        assert_eq!(byte[0], 4);
        // Past the buffer by less than its length: read through.
        stream.skip_bytes(20).expect("read through");
        stream.read_exact(&mut byte).expect("read");
        assert_eq!(byte[0], 25);
        // Past it by more: handed to the source.
        stream.skip_bytes(100).expect("seek");
        stream.read_exact(&mut byte).expect("read");
        assert_eq!(byte[0], 126);
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).expect("read");
        assert_eq!(rest, &data[127..]);
        assert_eq!(
            stream.skip_bytes(1).map_err(|e| e.kind()),
            Err(io::ErrorKind::UnexpectedEof)
        );
        drop(stream);
        assert_eq!(source.skips, [94]);
        assert!(source.reads <= 10, "{} reads", source.reads);
    }

    #[test]
    fn a_skip_past_the_end_is_an_early_end_either_way() {
        let data = [1u8; 40];
        for skip in [30, 50] {
            let mut source = Seekable::new(io::Cursor::new(&data[..]), data.len() as u64);
            let mut stream = ReadAhead::new(&mut source, 32);
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).expect("read");
            let result = stream.skip_bytes(skip);
            assert_eq!(result.is_ok(), skip < 40, "skip {skip}");
        }
        let mut source = Sequential(&data[..]);
        let mut stream = ReadAhead::new(&mut source, 8);
        assert_eq!(stream.skip_bytes(39).map_err(|e| e.kind()), Ok(()));
        assert_eq!(
            stream.skip_bytes(2).map_err(|e| e.kind()),
            Err(io::ErrorKind::UnexpectedEof)
        );
    }
}
