/** The perimeter map: every schema field → the upstream endpoints it reaches → the credential used. */
export { derivePerimeter } from './derive.js';
export type { DeriveOptions, PerimeterClient, PerimeterEndpoint, PerimeterField, PerimeterMap } from './derive.js';
export { perimeterMarkdown } from './render.js';
export { perimeterRoutes } from './admin.js';
export { credentialOf, endpointRoute, type CredentialInfo } from './route.js';
