// The version in package.json, which the image and the npm package both carry beside dist/.

export const VERSION: string = require('../../../package.json').version;
