import type { OrgKind, Role } from '@vs/protocol'
import type { AppContext } from '../context.js'
import { appendAudit } from '../audit.js'
import { createInvitation, createOrganisation, ensureRegion } from './accounts.js'

export interface BootstrapInput {
  region: string
  organisation: string
  kind: OrgKind
  name: string
  email: string
  discipline: string
  role?: Role
  validHours?: number
}

/**
 * Creates (or reuses) a region and an organisation and invites a person into it, by
 * default as coordinator. This is how the first coordinator of a region is made
 * (`pnpm cli admin create`), before anyone can sign in.
 */
export async function bootstrapInvitation(ctx: AppContext, input: BootstrapInput) {
  return ctx.db.db.transaction().execute(async (trx) => {
    const regionId = await ensureRegion(trx, input.region)
    const existing = await trx
      .selectFrom('organisations')
      .select('id')
      .where('region_id', '=', regionId)
      .where('name', '=', input.organisation)
      .executeTakeFirst()
    const organisationId =
      existing?.id ?? (await createOrganisation(trx, regionId, input.organisation, input.kind)).id
    const inv = await createInvitation(ctx, trx, {
      email: input.email,
      name: input.name,
      discipline: input.discipline,
      organisationId,
      role: input.role ?? 'coordinator',
      createdBy: null,
      validHours: input.validHours,
    })
    await appendAudit(trx, {
      event: 'invitation.created',
      actorUserId: null,
      onBehalfOf: 'operator-cli',
      subjectKind: 'invitation',
      subjectId: inv.id,
    })
    return { regionId, organisationId, ...inv }
  })
}
