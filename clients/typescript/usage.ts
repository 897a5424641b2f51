// A small client written against the generated types, compiled by `scripts/typescript.sh check`
// (tsc --noEmit --strict). It is also the test of the types' precision: every `Expect<...>` and
// every `// @ts-expect-error` line fails to compile if a type turns `any`-ish, an enum widens to
// `string`, a required field becomes optional, or a nullable one loses (or gains) `null`.
import type { components, paths } from "./coditect";

type Schemas = components["schemas"];
export type Project = Schemas["Project"];
export type ProjectCreate = Schemas["ProjectCreate"];
export type ProjectUpdate = Schemas["ProjectUpdate"];
export type ProjectList = Schemas["ProjectList"];
export type Membership = Schemas["Membership"];
export type MembershipUpdate = Schemas["MembershipUpdate"];
export type MemberRole = Schemas["MemberRole"];
export type License = Schemas["License"];

// --- type-level checks --------------------------------------------------------------------
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
type IsAny<T> = 0 extends 1 & T ? true : false;
type NotAny<T> = IsAny<T> extends false ? true : false;

export type Checks = [
  // Every resource, its inputs and its list envelope are published under these names.
  Expect<NotAny<Schemas["User"]>>,
  Expect<NotAny<Schemas["UserCreate"]>>,
  Expect<NotAny<Schemas["UserUpdate"]>>,
  Expect<NotAny<Schemas["UserList"]>>,
  Expect<NotAny<Schemas["MembershipList"]>>,
  Expect<NotAny<Schemas["Team"]>>,
  Expect<NotAny<Schemas["TeamCreate"]>>,
  Expect<NotAny<Schemas["TeamUpdate"]>>,
  Expect<NotAny<Schemas["TeamList"]>>,
  Expect<NotAny<Schemas["TeamMember"]>>,
  Expect<NotAny<Schemas["TeamMemberCreate"]>>,
  Expect<NotAny<Schemas["TeamMemberList"]>>,
  Expect<NotAny<Schemas["LicenseList"]>>,
  Expect<NotAny<Schemas["AuditLog"]>>,
  Expect<NotAny<Schemas["AuditLogList"]>>,
  Expect<NotAny<Schemas["Tenant"]>>,
  Expect<NotAny<Schemas["TenantUpdate"]>>,

  // A read row: every column present; NOT NULL columns are never null, nullable ones are.
  Expect<Equal<Project["id"], string>>,
  Expect<Equal<Project["tenant_id"], string>>,
  Expect<Equal<Project["name"], string>>,
  Expect<Equal<Project["description"], string>>,
  Expect<Equal<Project["created_at"], string>>,
  Expect<Equal<Project["deleted_at"], string | null>>,
  Expect<NotAny<Project["metadata"]>>,
  Expect<Equal<Membership["revoked_at"], string | null>>,

  // Closed vocabularies are string literal unions, declared once and referenced.
  Expect<Equal<MemberRole, "owner" | "admin" | "member" | "guest">>,
  Expect<Equal<Membership["role"], MemberRole>>,
  Expect<Equal<string extends License["tier"] ? true : false, false>>,

  // The list envelope.
  Expect<Equal<ProjectList["results"], Project[]>>,
  Expect<Equal<ProjectList["count"], number | null>>,
  Expect<Equal<ProjectList["next"], string | null>>,
  Expect<Equal<ProjectList["previous"], string | null>>,

  // The routes answer and take the named schemas.
  Expect<Equal<paths["/api/v1/projects/"]["get"]["responses"][200]["content"]["application/json"], ProjectList>>,
  Expect<Equal<NonNullable<paths["/api/v1/projects/"]["post"]["requestBody"]>["content"]["application/json"], ProjectCreate>>,
  Expect<Equal<NonNullable<paths["/api/v1/projects/{id}/"]["patch"]["requestBody"]>["content"]["application/json"], ProjectUpdate>>,
];

// --- values: what the compiler accepts and refuses ------------------------------------------
export const create: ProjectCreate = { name: "Apollo", metadata: { color: "blue" } };
export const createMinimal: ProjectCreate = { name: "Apollo" }; // defaulted fields may be left out
// @ts-expect-error name is required on create
export const createWithoutName: ProjectCreate = { description: "no name" };
// @ts-expect-error name is NOT NULL
export const createNullName: ProjectCreate = { name: null };
// @ts-expect-error unknown field (the gateway answers 400)
export const createTypo: ProjectCreate = { name: "Apollo", nmae: "Apollo" };
// @ts-expect-error id is not writable
export const createWithId: ProjectCreate = { name: "Apollo", id: "0190c0de-0000-7000-8000-000000000000" };

export const rename: ProjectUpdate = { name: "Apollo 2" };
export const noChange: ProjectUpdate = {}; // a PATCH names only what changes
// @ts-expect-error description is NOT NULL: clear it with "", not null
export const clearDescription: ProjectUpdate = { description: null };

export const promote: MembershipUpdate = { role: "admin" };
// @ts-expect-error not a member role
export const emperor: MembershipUpdate = { role: "emperor" };

export function isLive(p: Project): boolean {
  // @ts-expect-error a project's name is never null
  p.name = null;
  return p.deleted_at === null;
}

// --- a small client -------------------------------------------------------------------------
export async function listProjects(baseUrl: string, token: string, pageSize = 50): Promise<Project[]> {
  const all: Project[] = [];
  let url: string | null = `${baseUrl}/api/v1/projects/?page_size=${pageSize}`;
  while (url !== null) {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
    const page = (await res.json()) as ProjectList;
    all.push(...page.results);
    url = page.next;
  }
  return all;
}

export async function createProject(baseUrl: string, token: string, body: ProjectCreate): Promise<Project> {
  const res = await fetch(`${baseUrl}/api/v1/projects/`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST projects: ${res.status}`);
  return (await res.json()) as Project;
}

export function roleLabel(role: MemberRole): string {
  switch (role) {
    case "owner":
      return "Owner";
    case "admin":
      return "Administrator";
    case "member":
      return "Member";
    case "guest":
      return "Guest";
  }
}
