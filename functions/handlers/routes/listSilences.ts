/** Every silence: active, pending, and ended in the last week. */
import { defineRoute } from '../../http/types.js';
import { silences } from '../../services/silences.js';

export default defineRoute('listSilences', async (req) => ({
  statusCode: 200,
  body: { silences: await silences(req.now) },
}));
