// TEMPORARY: against today's schema names (ProjectWrite, MembershipUpdate), to prove the toolchain.
import type { components, paths } from "./coditect";

type Project = components["schemas"]["Project"];
type ProjectWrite = components["schemas"]["ProjectWrite"];
type MembershipUpdate = components["schemas"]["MembershipUpdate"];
type ProjectPage =
  paths["/api/v1/projects/"]["get"]["responses"][200]["content"]["application/json"];

type IsAny<T> = 0 extends 1 & T ? true : false;
const notAny: IsAny<Project> = false;

function names(page: ProjectPage): string[] {
  return page.results.map((p: Project) => p.name ?? "");
}

const body: ProjectWrite = { name: "Apollo", metadata: { color: "blue" } };
// @ts-expect-error unknown field
const bad: ProjectWrite = { nmae: "Apollo" };
const promote: MembershipUpdate = { role: "admin" };
// @ts-expect-error not a member role
const wrongRole: MembershipUpdate = { role: "emperor" };
const deleted: Project["deleted_at"] = null;

export { notAny, names, body, bad, promote, wrongRole, deleted };
