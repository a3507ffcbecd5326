/**
 * `docker top`'s ps options. dockerd 20.10 runs `ps <ps_args split on " "> -q<the container's pids>`
 * on the host, and when that fails (ps refuses `-q` beside forest listings, `-p`, negation and
 * other selections) it runs `ps <ps_args>` alone, over every process of the host, and relies on
 * finding a numeric PID column to keep only the container's rows. Custom columns (`-o args,ni,pid`)
 * defeat that: the first row whose "PID" is not a number ends in an error that quotes it, so with
 * `e` (environment) and `-p N` any host process's command line and environment come out one token at
 * a time. So only a small set of ps options passes, each one known to keep `-q` working and the PID
 * column real: whole presets (`aux`, `-ef`, ...) or a custom list of known columns. Anything else is
 * refused before the engine runs ps.
 */
import { FieldRefusal } from "./fields.ts";

/** Whole ps_args a tenant may give: they select and format, never list by other means or show environment. */
const PRESETS = new Set([
  "-e",
  "-A",
  "-f",
  "-F",
  "-l",
  "-ef",
  "-eF",
  "-el",
  "-ely",
  "-ej",
  "-eL",
  "-eT",
  "-efL",
  "-x",
  "a",
  "u",
  "x",
  "ax",
  "ux",
  "aux",
  "axu",
  "auxw",
  "auxww",
]);

/** The options that take a custom column list as the next argument. */
const FORMAT_OPTIONS = new Set(["-o", "-eo", "o", "axo"]);

/** Columns whose values are one word (no spaces), so the engine's split by whitespace stays aligned. */
const ONE_WORD_COLUMNS = new Set([
  "pid",
  "ppid",
  "pgid",
  "sid",
  "lwp",
  "nlwp",
  "user",
  "euser",
  "ruser",
  "uid",
  "euid",
  "ruid",
  "group",
  "egroup",
  "rgroup",
  "gid",
  "egid",
  "rgid",
  "tty",
  "tt",
  "stat",
  "state",
  "%cpu",
  "pcpu",
  "c",
  "%mem",
  "pmem",
  "rss",
  "rsz",
  "vsz",
  "vsize",
  "sz",
  "ni",
  "nice",
  "pri",
  "psr",
  "time",
  "cputime",
  "etime",
  "stime",
  "start_time",
]);

/** Columns of free text (process names and command lines may hold spaces): only as the last column. */
const TEXT_COLUMNS = new Set(["comm", "ucomm", "ucmd", "args", "cmd", "command"]);

const FIELD = "ps_args";
const HELP = `give none (ps -ef), one of ${[...PRESETS].join(" ")}, or -o/-eo/o/axo with known columns that include pid (comm, args: last only)`;

/** Refuses ps options other than the allowed ones; returns them unchanged when allowed. */
export function checkPsArgs(psArgs: string): string {
  if (psArgs === "") return psArgs;
  const words = psArgs.split(" ");
  if (words.length === 1 && PRESETS.has(words[0]!)) return psArgs;
  if (words.length === 2 && FORMAT_OPTIONS.has(words[0]!)) {
    checkColumns(words[1]!);
    return psArgs;
  }
  throw new FieldRefusal(FIELD, `ps options "${psArgs.slice(0, 80)}" are not allowed; ${HELP}`);
}

function checkColumns(list: string): void {
  const columns = list.split(",");
  columns.forEach((column, index) => {
    const last = index === columns.length - 1;
    if (ONE_WORD_COLUMNS.has(column) || (last && TEXT_COLUMNS.has(column))) return;
    const why = TEXT_COLUMNS.has(column) ? `the column ${column} may only be the last one` : `the column "${column.slice(0, 40)}" is not allowed`;
    throw new FieldRefusal(FIELD, `${why}; ${HELP}`);
  });
  if (!columns.includes("pid")) throw new FieldRefusal(FIELD, `the column list must include pid; ${HELP}`);
}
