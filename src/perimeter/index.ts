/** The perimeter map: every schema field → the upstream endpoints it reaches → the credential used. */
export { derivePerimeter } from './derive.js';
export type { DeriveOptions, PerimeterClient, PerimeterEndpoint, PerimeterField, PerimeterMap } from './derive.js';
export { perimeterMarkdown, writesMarkdown } from './render.js';
export type { PerimeterWrite } from './writes.js';
export { perimeterRoutes } from './admin.js';
export { credentialOf, endpointRoute, type CredentialInfo } from './route.js';
