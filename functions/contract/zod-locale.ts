/**
 * English issue messages for zod/mini ("Invalid input: expected string, received number", "Too big: expected
 * string to have <=64 characters"). Classic zod registers this locale itself; zod/mini does not, and would say
 * only "Invalid input". Our 400 bodies, CLI errors and the agent's state-file problems carry these messages, so
 * every module that parses imports this one (the contract's common.ts, lib/validation.ts, the agent's JsonStore).
 * Only the English locale is imported, by its own path: bundles get it (~3 KB minified) and none of the others.
 * The locale is global zod configuration; setting it more than once is harmless.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());
