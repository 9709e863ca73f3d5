//! The redrawn screen on a terminal, with crossterm: the alternate screen,
//! raw mode (so keys do not echo, and Ctrl-C arrives as a key), the cursor
//! hidden; all three put back on every way out: a return, an error, `q`,
//! Ctrl-C, SIGTERM, and a panic (a hook restores the terminal before the
//! message is printed).
//!
//! Each refresh rewrites the lines in place, each cut to the terminal's
//! width and cleared to its end, and clears what is below: no flicker, no
//! full-screen clear. The lines are [`super::render`]'s, the same
//! as on a pipe; ratatui would add a layout engine this does not need.

use std::io::{self, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::style::{Attribute, Print, SetAttribute};
use crossterm::terminal::{self, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{execute, queue};

use super::render::{self, Line, Style};
use super::view::View;
use super::{Sink, Wake, wait_for};
use c1m_sys::signals::{SIGINT, SIGTERM, Signals};

const HINT: &str = "q or Ctrl-C quits";

/// Whether the terminal is switched, for the panic hook.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The terminal while stat draws on it; restored on drop.
pub struct Screen {
    out: io::Stdout,
    signals: Signals,
}

impl Screen {
    /// Switches to the alternate screen in raw mode.
    pub fn enter() -> io::Result<Self> {
        let signals = Signals::catch(&[SIGINT, SIGTERM])?;
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if ACTIVE.load(Ordering::SeqCst) {
                    restore();
                }
                previous(info);
            }));
        });
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut screen = Self {
            out: io::stdout(),
            signals,
        };
        // From here on, Drop restores whatever was switched.
        execute!(screen.out, EnterAlternateScreen, Hide)?;
        Ok(screen)
    }

    fn draw(&mut self, lines: &[Line]) -> io::Result<()> {
        let (width, height) = terminal::size()?;
        let (width, height) = (usize::from(width), usize::from(height));
        let room = height.saturating_sub(1);
        for (row, line) in lines.iter().take(room).enumerate() {
            let text: String = line.text.chars().take(width).collect();
            let attr = match line.style {
                Style::Title | Style::Heading => Attribute::Bold,
                Style::Note => Attribute::Dim,
                Style::Body => Attribute::Reset,
            };
            queue!(
                self.out,
                MoveTo(0, row as u16),
                SetAttribute(attr),
                Print(text),
                SetAttribute(Attribute::Reset),
                Clear(ClearType::UntilNewLine)
            )?;
        }
        let below = lines.len().min(room);
        queue!(
            self.out,
            MoveTo(0, below as u16),
            Clear(ClearType::FromCursorDown)
        )?;
        if height > lines.len() + 1 {
            let hint: String = HINT.chars().take(width).collect();
            queue!(
                self.out,
                MoveTo(0, (height - 1) as u16),
                SetAttribute(Attribute::Dim),
                Print(hint),
                SetAttribute(Attribute::Reset)
            )?;
        }
        self.out.flush()
    }
}

impl Sink for Screen {
    fn starting(&mut self) -> io::Result<()> {
        let line = |text: &str| Line {
            style: Style::Title,
            text: text.into(),
        };
        self.draw(&[line("c1m stat: counting sockets over netlink…")])
    }

    fn show(&mut self, v: &View) -> io::Result<()> {
        self.draw(&render::render(v))
    }

    fn wait(&mut self, until: Instant) -> io::Result<Wake> {
        wait_for(&self.signals, until, Duration::from_millis(100), |left| {
            if !event::poll(left)? {
                return Ok(None);
            }
            Ok(match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
                    match k.code {
                        KeyCode::Char('c' | 'd') if ctrl => Some(Wake::Quit),
                        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Some(Wake::Quit),
                        _ => None,
                    }
                }
                Event::Resize(..) => Some(Wake::Redraw),
                _ => None,
            })
        })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen, shows the cursor, ends raw mode; harmless
/// when they are already so.
fn restore() {
    ACTIVE.store(false, Ordering::SeqCst);
    let _ = execute!(
        io::stdout(),
        SetAttribute(Attribute::Reset),
        Show,
        LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
}
