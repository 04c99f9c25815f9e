/** Parsers of command-line arguments: each returns the value or throws commander's usage error. */
import { InvalidArgumentError } from 'commander';

export const integer = (what: string, min: number, max: number) => (text: string) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`"${text}" is not ${what} (a whole number from ${min} to ${max})`);
  }
  return value;
};

export const perSecond = (text: string) => {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(
      `"${text}" is not a rate per second (a number ≥ 0; 0 turns the limit off)`,
    );
  }
  return value;
};

export const httpUrl = (text: string) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(`"${text}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`"${text}" is not an http:// or https:// URL`);
  }
  return text;
};

/** Collects a repeated `--cors-origin`: an origin as a browser sends it, `scheme://host[:port]`. */
export const origins = (text: string, previous: string[] = []) => {
  let origin: string | undefined;
  try {
    origin = new URL(text).origin;
  } catch {}
  if (origin !== text) {
    throw new InvalidArgumentError(`"${text}" is not an origin (e.g. https://app.example.com, no path)`);
  }
  return [...previous, text];
};
